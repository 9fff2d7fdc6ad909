"""Where a scan's time goes in process (docs/BENCHMARKS.md, HIL "Session 3"): simulator frames as
`planner hil --source sim` sends them (Nav-v0 L2, 720 beams, 50 Hz), a sleep before each scan (cold, as at
50 Hz), then LaserScan -> Scan, summarize, Planner.decide with its parts timed (tracker, drawing predicted
motion, 1-degree binning, first network pass, refinement steps, verifier).

    .venv/bin/python docs/bench/hil_s3_splits.py 1000 0.02
"""
import sys, time, json, math
import numpy as np
from planner.hil import sim_frames
from planner.runtime import Planner, RuntimeConfig, nearest_per_bin
from planner import runtime as rt
from planner.sensing import summarize, Twist2D
from ros_nodes import convert

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SLEEP = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
t = time.perf_counter()
frames = sim_frames(N, level=2, beams=720, rate_hz=50)
print("frames", len(frames), time.perf_counter() - t, file=sys.stderr)
planner = Planner(RuntimeConfig())
times = {k: [] for k in ("conv", "summ", "track", "draw", "bin", "first", "step", "verify", "decide")}
def wrap(obj, name, key):
    f = getattr(obj, name)
    def g(*a, **k):
        t0 = time.perf_counter(); r = f(*a, **k); times[key].append((time.perf_counter() - t0) * 1e3); return r
    setattr(obj, name, g)
wrap(planner.model_input.tracker, "update", "track")
import planner.sensing as S
wrap(S, "with_predicted_motion", "draw")
wrap(planner.backend, "first", "first")
wrap(planner.backend, "step", "step")
wrap(planner.verifier, "verify", "verify")
nb = rt.nearest_per_bin
def nb2(*a):
    t0 = time.perf_counter(); r = nb(*a); times["bin"].append((time.perf_counter() - t0) * 1e3); return r
rt.nearest_per_bin = nb2
msgs = [convert.scan_msg(f.scan.ranges, f.scan.angle_min, f.scan.angle_increment, f.scan.range_min, f.scan.range_max, convert.sec_to_stamp(f.scan.stamp), "base_link") for f in frames]
import gc; gc.collect(); gc.freeze()
for f, m in zip(frames, msgs):
    time.sleep(SLEEP)
    t0 = time.perf_counter()
    scan = convert.scan_from_msg(m)
    t1 = time.perf_counter()
    s = summarize(scan, f.pose, f.twist, f.goal, vehicle=planner.vehicle, cfg=planner.sensing_config)
    t2 = time.perf_counter()
    d = planner.decide(s)
    t3 = time.perf_counter()
    times["conv"].append((t1 - t0) * 1e3); times["summ"].append((t2 - t1) * 1e3); times["decide"].append((t3 - t2) * 1e3)
for k, v in times.items():
    v = np.array(v)
    if v.size:
        print(f"{k:8s} n={v.size:5d} p50 {np.percentile(v,50):.3f} p90 {np.percentile(v,90):.3f} p99 {np.percentile(v,99):.3f} max {v.max():.3f} sum/scan {v.sum()/N:.3f}")
