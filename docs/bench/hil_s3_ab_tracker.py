"""Old vs new MotionTracker.update (docs/BENCHMARKS.md, HIL "Session 3"): the recorded sequences of
tests/data/tracker_regression.npz, cold (a sleep before each call), interleaved, 3 repeats; asserts the
same Motion from both.

    git show a5b79c0:planner/verifier.py > /tmp/verifier_old.py
    .venv/bin/python docs/bench/hil_s3_ab_tracker.py 0.02 L4_720b_50hz,L5_720b_20hz /tmp/verifier_old.py
"""
import sys, time, importlib.util
import numpy as np
sys.path.insert(0, "docs/bench")
import tracker_regression_data as g
from planner import verifier as new
spec = importlib.util.spec_from_file_location("verifier_old", sys.argv[3])
old = importlib.util.module_from_spec(spec); sys.modules["verifier_old"] = old; spec.loader.exec_module(old)
saved = np.load("tests/data/tracker_regression.npz")
sleep = float(sys.argv[1]) if len(sys.argv) > 1 else 0.02
names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["L4_720b_50hz", "L5_720b_20hz"]
for name in names:
    rec = {k.split("/")[-1]: saved[k] for k in saved.files if k.startswith(name + "/in/")}
    sums = [g.summary_of(rec, i) for i in range(len(rec["stamp"]))]
    to, tn = [], []
    for rep in range(3):
        a, b = old.MotionTracker(), new.MotionTracker()
        for i, s in enumerate(sums):
            if rec["episode_start"][i]: a.reset(); b.reset()
            pair = [(a, to), (b, tn)] if (i + rep) % 2 == 0 else [(b, tn), (a, to)]
            res = []
            for tr, acc in pair:
                if sleep: time.sleep(sleep)
                t0 = time.perf_counter(); m = tr.update(s); acc.append((time.perf_counter() - t0) * 1e3); res.append(m)
            assert np.array_equal(res[0].velocity, res[1].velocity) and np.array_equal(res[0].moving, res[1].moving)
    f = lambda x: "p50 %.3f p90 %.3f p99 %.3f max %.3f" % tuple(np.percentile(x, [50, 90, 99, 100]))
    print(f"{name} n={len(to)} sleep={sleep}\n  old {f(to)}\n  new {f(tn)}\n  ratio p50 {np.median(tn)/np.median(to):.2f}")
