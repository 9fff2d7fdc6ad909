"""Truth against the tracker before each collision (docs/BENCHMARKS.md, "Session 6"): runs VAL Nav
episodes N0..N1-1 of LEVEL with the shipped model (runtime defaults, deadline 1000 ms) and, for every
collision, prints the last 1.5 s step by step: robot speed and decision, the nearest mover's true
position and velocity in the robot frame (simulator truth, for diagnosis only), how many swept hits lie
on it, how many the tracker marks moving, and their mean estimated velocity.

    .venv/bin/python docs/bench/mover_collision_trace.py LEVEL N0 N1
"""
import math
import sys

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
    summary, log = info["summary"], []
    while True:
        d = planner.decide(summary)
        c, s = math.cos(u.yaw), math.sin(u.yaw)
        R = np.array([[c, s], [-s, c]])
        pts = np.asarray(planner.last.get("swept_points", np.zeros((0, 2))))
        mot = planner.last.get("motion")
        rows = []
        for m in u.world.movers:
            p0, p1 = m.positions(u.t), m.positions(u.t + 0.05)
            rel = R @ (p0 - [u.x, u.y]); vel = R @ ((p1 - p0) / 0.05)
            # robot velocity in robot frame is (v, 0); relative ignoring robot rotation
            dist = float(np.linalg.norm(rel))
            near = np.linalg.norm(pts - rel, axis=1) < m.radius + 0.1 if len(pts) else np.zeros(0, bool)
            nmov = int(mot.moving[near].sum()) if mot is not None and near.any() and mot.moving.shape[0] == len(pts) else 0
            est = (mot.velocity[near & mot.moving].mean(axis=0) if nmov else np.zeros(2))
            rows.append(dict(dist=round(dist, 2), rel=np.round(rel, 2).tolist(), vel=np.round(vel, 2).tolist(),
                             hits=int(near.sum()), moving=nmov, est=np.round(est, 2).tolist()))
        nearest = min(rows, key=lambda r: r["dist"]) if rows else None
        log.append(dict(t=round(u.t, 2), v=round(u.v, 2), st=d.status[0], p=d.primitive, cmd=round(d.v, 2), m=nearest,
                        why=d.reason[:60]))
        _, _, term, trunc, info = u.step_command(d.v, d.w)
        summary = info["summary"]
        if term or trunc:
            break
    if info["outcome"] == "collision":
        print(f"=== L{level} ep {i} collision t={u.t:.2f}")
        for r in log[-30:]:
            m = r["m"]
            print(f"{r['t']:5.2f} v={r['v']:4.1f} {r['st']} p={r['p']:2d} cmd={r['cmd']:4.1f} | d={m['dist']:4.2f} rel={m['rel']} vel={m['vel']} hits={m['hits']:2d} mov={m['moving']:2d} est={m['est']}  {r['why']}")
        sys.stdout.flush()
