"""Old vs new summarize (docs/BENCHMARKS.md, HIL "Session 3"): the recorded scans of
tests/data/tracker_regression.npz (720 and 64 beams), cold (a sleep before each call) or back to back
(sleep 0), interleaved, 3 repeats; asserts the same sectors, points and valid fraction.

    git show 826a322:planner/sensing.py > /tmp/sensing_old.py
    .venv/bin/python docs/bench/hil_s3_ab_summarize.py 0.02 /tmp/sensing_old.py
"""
import sys, time, importlib.util
import numpy as np
sys.path.insert(0, "docs/bench")
import tracker_regression_data as g
from planner import sensing as new
from planner.vehicles import JACKAL
spec = importlib.util.spec_from_file_location("sensing_old", sys.argv[2])
old = importlib.util.module_from_spec(spec); sys.modules["sensing_old"] = old; spec.loader.exec_module(old)
saved = np.load("tests/data/tracker_regression.npz")
sleep = float(sys.argv[1])
for name in ["L4_720b_50hz", "L5_64b_20hz"]:
    rec = {k.split("/")[-1]: saved[k] for k in saved.files if k.startswith(name + "/in/")}
    to, tn = [], []
    for rep in range(3):
        for i in range(len(rec["stamp"])):
            scan = g.scan_of(rec, i)
            args = (new.Pose2D(*rec["pose"][i]), new.Twist2D(*rec["twist"][i]), new.Pose2D(*rec["goal"][i]))
            fo = lambda: old.summarize(scan, *args, vehicle=JACKAL)
            fn = lambda: new.summarize(scan, *args, vehicle=JACKAL)
            pair = [(fo, to), (fn, tn)] if (i + rep) % 2 == 0 else [(fn, tn), (fo, to)]
            res = []
            for f, acc in pair:
                if sleep: time.sleep(sleep)
                t0 = time.perf_counter(); r = f(); acc.append((time.perf_counter() - t0) * 1e3); res.append(r)
            assert np.array_equal(res[0].lidar, res[1].lidar) and np.array_equal(res[0].points, res[1].points) and res[0].valid_fraction == res[1].valid_fraction
    f = lambda x: "p50 %.3f p90 %.3f p99 %.3f max %.3f" % tuple(np.percentile(x, [50, 90, 99, 100]))
    print(f"{name} summarize n={len(to)} sleep={sleep}\n  old {f(to)}\n  new {f(tn)}\n  ratio p50 {np.median(tn)/np.median(to):.2f}")
