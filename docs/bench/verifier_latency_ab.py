"""Verifier cost before/after, side by side in one process on the same recorded summaries
(docs/BENCHMARKS.md, "Verifier leaks"). Summaries are recorded along the shipped model's own VAL episodes
(Nav-v0 L3-5, Drive-v0 L3-4, 2 episodes each, <= 400 decisions); then per summary, interleaved, the old
`verify` and the new `MotionTracker.update + verify` (the tracker replayed in order), each the min of 3
runs (the cost without preemption on a shared machine). Prints one JSON document.

    .venv/bin/python docs/bench/verifier_latency_ab.py OLD_VERIFIER.py   # e.g. git show 138edb3:planner/verifier.py
"""
import importlib.util
import json
import sys
import time

import gymnasium as gym
import numpy as np

import sim  # noqa: F401
from planner import verifier as new
from planner.runtime import Planner, RuntimeConfig
from sim.worlds import VAL_SEEDS

spec = importlib.util.spec_from_file_location("verifier_old", sys.argv[1])
old = importlib.util.module_from_spec(spec)
sys.modules["verifier_old"] = old
spec.loader.exec_module(old)
out = {}
for suite, env_id, vehicle, levels in (("nav", "planner/Nav-v0", "jackal", (3, 4, 5)),
                                       ("drive", "planner/Drive-v0", "car", (3, 4))):
    planner = Planner(RuntimeConfig(vehicle=vehicle, deadline_ms=1000))
    recs = []
    for level in levels:
        env = gym.make(env_id, level=level, split="val")
        for ep in range(2):
            _, info = env.reset(seed=ep, options={"world_seed": VAL_SEEDS.start + ep})
            planner.reset()
            for _ in range(400):
                s = info["summary"]
                d = planner.decide(s)
                recs.append((s, planner.last["logits"], int(np.argmax(planner.last["logits"]))))
                _, _, term, trunc, info = env.unwrapped.step_command(d.v, d.w)
                if term or trunc:
                    break
        env.close()
    v_old, v_new, tracker = old.Verifier(planner.vehicle), new.Verifier(planner.vehicle), new.MotionTracker()
    t_old, t_new, statuses = [], [], {}
    for s, logits, chosen in recs:
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            v_old.verify(s, logits, chosen)
            runs.append(time.perf_counter() - t0)
        t_old.append(min(runs) * 1e3)
        runs = []
        for r in range(3):
            saved = list(tracker.history), list(tracker.tracks)
            t0 = time.perf_counter()
            res = v_new.verify(s, logits, chosen, tracker.update(s))
            runs.append(time.perf_counter() - t0)
            if r < 2:                      # replay: the tracker sees each scan once
                tracker.history.clear()
                tracker.history.extend(saved[0])
                tracker.tracks = saved[1]
        t_new.append(min(runs) * 1e3)
        statuses[res.status] = statuses.get(res.status, 0) + 1

    def stats(x):
        return {k: round(float(np.percentile(x, q)), 3) for k, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}
    out[suite] = {"summaries": len(recs), "old_verify_ms": stats(t_old), "new_track_and_verify_ms": stats(t_new),
                  "ratio_p50": round(float(np.median(t_new) / np.median(t_old)), 2), "new_status": statuses}
print(json.dumps(out))
