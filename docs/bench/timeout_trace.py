"""What timeouts look like (docs/BENCHMARKS.md, "Session 6"): for every timeout among VAL Nav episodes
N0..N1-1 of LEVEL (shipped model, runtime defaults, deadline 1000 ms), the share of time standing and
within 2 m of a mover (simulator truth, for diagnosis only), how far the robot got around in the second
half, and its decision statuses.

    .venv/bin/python docs/bench/timeout_trace.py LEVEL N0 N1
"""
import math
import sys
from collections import Counter

import gymnasium as gym
import numpy as np

import sim  # noqa: F401  (registers the environments)
from planner.runtime import Planner, RuntimeConfig
from sim.worlds import VAL_SEEDS
level, n0, n1 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
planner = Planner(RuntimeConfig(model_path="models/weights/mini.card.json", vehicle="jackal", deadline_ms=1000))
env = gym.make("planner/Nav-v0", level=level, split="val")
u = env.unwrapped
for i in range(n0, n1):
    _, info = env.reset(seed=i, options={"world_seed": VAL_SEEDS.start + i})
    planner.reset()
    summary = info["summary"]; st = Counter(); reasons = Counter(); speeds = []; near = []; xs = []
    while True:
        d = planner.decide(summary)
        st[d.status] += 1
        if d.status != "verified":
            r = d.reason.split("(")[0][:40] if "no safe" in d.reason else ("corrected" if d.status == "corrected" else d.reason[:40])
            reasons[r] += 1
        speeds.append(abs(u.v)); xs.append((u.x, u.y))
        dm = min((math.hypot(*(m.positions(u.t) - [u.x, u.y])) for m in u.world.movers), default=99)
        near.append(dm)
        _, _, term, trunc, info = u.step_command(d.v, d.w)
        summary = info["summary"]
        if term or trunc:
            break
    if info["outcome"] == "timeout":
        xs = np.array(xs); n = len(xs)
        # time spent within 2 m of a mover, standing (< 0.1 m/s), and how far it got in the last half
        span = np.ptp(xs[n // 2:], axis=0)
        print(f"L{level} ep{i} T={u.t:.0f}s goal_dist={math.hypot(u.world.goal.x-u.x, u.world.goal.y-u.y):.1f} "
              f"standing={np.mean(np.array(speeds) < 0.1):.2f} near_mover<2m={np.mean(np.array(near) < 2):.2f} "
              f"last-half bbox={span.round(1).tolist()} status={dict(st)} top={reasons.most_common(3)}", flush=True)
