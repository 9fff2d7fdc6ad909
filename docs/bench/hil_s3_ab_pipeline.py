"""Old vs new per-scan pipeline in one process (docs/BENCHMARKS.md, HIL "Session 3"): LaserScan -> Scan
(ros_nodes.convert) -> summarize -> Planner.decide on the same simulator frames (`planner.hil.sim_frames`,
Nav-v0, 720 beams, stepped at 50 Hz, as `planner hil --source sim` sends), with a sleep before every call
(caches go cold between scans as at 50 Hz) and the order alternating. "old" = the sensing and verifier
files given (the runtime is the current one with the old MotionTracker and Verifier swapped in);
decisions are compared field by field (deadline 1000 ms, so that timing cannot change them). Prints one
JSON document (stdout) and a summary (stderr).

    git show a5b79c0:planner/verifier.py > /tmp/verifier_old.py
    git show 826a322:planner/sensing.py > /tmp/sensing_old.py      # the lead's ModelInput, old scan_to_sectors
    .venv/bin/python docs/bench/hil_s3_ab_pipeline.py /tmp/sensing_old.py /tmp/verifier_old.py 1000 0.02 2
"""
import sys, time, importlib.util, gc, json
import numpy as np
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m); return m
old_s = load("sensing_old", sys.argv[1]); old_v = load("verifier_old", sys.argv[2])
N = int(sys.argv[3]); SLEEP = float(sys.argv[4]); LEVEL = int(sys.argv[5]) if len(sys.argv) > 5 else 2
DEADLINE = float(sys.argv[6]) if len(sys.argv) > 6 else 1000.0
from planner import sensing as new_s
from planner.hil import sim_frames
from planner.runtime import Planner, RuntimeConfig
from ros_nodes import convert
frames = sim_frames(N, level=LEVEL, beams=720, rate_hz=50)
msgs = [convert.scan_msg(f.scan.ranges, f.scan.angle_min, f.scan.angle_increment, f.scan.range_min, f.scan.range_max,
                         convert.sec_to_stamp(f.scan.stamp), "base_link") for f in frames]
P = {"old": Planner(RuntimeConfig(deadline_ms=DEADLINE)), "new": Planner(RuntimeConfig(deadline_ms=DEADLINE))}
P["old"].verifier = old_v.Verifier(P["old"].vehicle, P["old"].cfg.verifier)
P["old"].model_input.tracker = P["old"].tracker = old_v.MotionTracker(P["old"].cfg.verifier)
SUM = {"old": old_s.summarize, "new": new_s.summarize}
T = {(k, w): [] for k in ("old", "new") for w in ("conv", "summ", "decide", "total")}
gc.collect(); gc.freeze()
mism = 0
for i, (f, m) in enumerate(zip(frames, msgs)):
    order = ("old", "new") if i % 2 == 0 else ("new", "old")
    dec = {}
    for k in order:
        p = P[k]
        time.sleep(SLEEP)
        t0 = time.perf_counter()
        scan = convert.scan_from_msg(m)
        t1 = time.perf_counter()
        s = SUM[k](scan, f.pose, f.twist, f.goal, vehicle=p.vehicle, cfg=p.sensing_config)
        t2 = time.perf_counter()
        d = p.decide(s)
        t3 = time.perf_counter()
        for w, v in (("conv", t1 - t0), ("summ", t2 - t1), ("decide", t3 - t2), ("total", t3 - t0)):
            T[(k, w)].append(v * 1e3)
        dec[k] = (d.v, d.w, d.status, d.reason, d.primitive, d.confidence, d.refine_steps, d.path.tobytes())
    mism += dec["old"] != dec["new"]
out = {"frames": N, "level": LEVEL, "sleep_s": SLEEP, "deadline_ms": DEADLINE, "decision_mismatches": int(mism)}
for w in ("conv", "summ", "decide", "total"):
    for k in ("old", "new"):
        x = np.array(T[(k, w)])
        out[f"{w}_{k}"] = {q: round(float(np.percentile(x, v)), 3) for q, v in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("max", 100))}
    out[f"{w}_p50_ratio"] = round(out[f"{w}_new"]["p50"] / out[f"{w}_old"]["p50"], 3)
    if DEADLINE < 100:
        pass
if DEADLINE < 100:
    for k in ("old", "new"):
        out[f"over_deadline_{k}"] = int((np.array(T[(k, "total")]) > DEADLINE).sum())
print(json.dumps(out))
for w in ("conv", "summ", "decide", "total"):
    print(f"{w:7s} old {out[f'{w}_old']}  new {out[f'{w}_new']}  p50 ratio {out[f'{w}_p50_ratio']}", file=sys.stderr)
print("mismatches", mism, file=sys.stderr)
