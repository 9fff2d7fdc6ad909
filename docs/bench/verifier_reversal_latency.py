"""Cost of sweeping moving hits turned back (VerifierConfig.reversal_horizon), side by side in one process
(docs/BENCHMARKS.md, "Movers that turn back"). Summaries and the tracker's motion are recorded as the
runtime makes them (binned hits, `swept_view`) along the shipped model's own VAL episodes (Nav-v0 L3-5,
4 episodes each, <= 400 decisions); then per summary, interleaved, `Verifier.verify` with
reversal_horizon 0 and with the default, each the min of 3 runs (the cost without preemption on a shared
machine). Prints one JSON document and a table.

    .venv/bin/python docs/bench/verifier_reversal_latency.py
"""
import dataclasses
import json
import time

import gymnasium as gym
import numpy as np

import sim  # noqa: F401
from planner.runtime import Planner, RuntimeConfig
from planner.verifier import Verifier, VerifierConfig
from sim.worlds import VAL_SEEDS

planner = Planner(RuntimeConfig(vehicle="jackal", deadline_ms=1000))
recs = []
for level in (3, 4, 5):
    env = gym.make("planner/Nav-v0", level=level, split="val")
    for ep in range(4):
        _, info = env.reset(seed=ep, options={"world_seed": VAL_SEEDS.start + ep})
        planner.reset()
        for _ in range(400):
            d = planner.decide(info["summary"])
            if "swept_points" in planner.last:     # what the runtime's verifier swept (binned hits)
                swept = dataclasses.replace(info["summary"], points=planner.last["swept_points"])
                recs.append((swept, planner.last["logits"], planner.last["motion"]))
            _, _, term, trunc, info = env.unwrapped.step_command(d.v, d.w)
            if term or trunc:
                break
    env.close()
default = VerifierConfig()
variants = {"off": Verifier(planner.vehicle, VerifierConfig(reversal_horizon=0.0)),
            f"reversal_{default.reversal_horizon:g}s": Verifier(planner.vehicle, default)}
times = {name: [] for name in variants}
statuses = {name: {} for name in variants}
moving = []
for summary, logits, motion in recs:
    moving.append(motion.count if motion is not None else 0)
    for name, verifier in variants.items():
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            res = verifier.verify(summary, logits, int(np.argmax(logits)), motion)
            runs.append(time.perf_counter() - t0)
        times[name].append(min(runs) * 1e3)
        statuses[name][res.status] = statuses[name].get(res.status, 0) + 1


def stats(x):
    return {k: round(float(np.percentile(x, q)), 3) for k, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}


names = list(variants)
out = {"summaries": len(recs), "with_moving_hits": int(np.count_nonzero(moving)),
       "verify_ms": {n: stats(times[n]) for n in names}, "status": statuses,
       "ratio_p50": round(float(np.median(times[names[1]]) / np.median(times[names[0]])), 2),
       "ratio_p99": round(float(np.percentile(times[names[1]], 99) / np.percentile(times[names[0]], 99)), 2)}
print(json.dumps(out))
print(f"\n{len(recs)} summaries ({out['with_moving_hits']} with moving hits); verify ms, min of 3 per summary")
print("| variant | p50 | p90 | p99 | max |\n|---|---|---|---|---|")
for n in names:
    s = out["verify_ms"][n]
    print(f"| {n} | {s['p50']} | {s['p90']} | {s['p99']} | {s['max']} |")
print(f"ratio p50 {out['ratio_p50']}x, p99 {out['ratio_p99']}x")
