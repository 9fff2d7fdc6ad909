"""MotionTracker accuracy against the simulator's ground truth (privileged: for diagnosis only) along the
shipped model's own VAL episodes (4 per level). Prints detection of movers within 4 m, velocity error, and
how many static hits were called moving (docs/BENCHMARKS.md, "Verifier leaks").

    .venv/bin/python docs/bench/verifier_tracker_accuracy.py nav|drive
"""
import numpy as np, gymnasium as gym, sim, math, sys
from planner.runtime import Planner, RuntimeConfig
from sim.worlds import VAL_SEEDS
suite = sys.argv[1]
env_id, veh, levels = (("planner/Nav-v0", "jackal", (3, 4, 5)) if suite == "nav" else ("planner/Drive-v0", "car", (3, 4)))
pl = Planner(RuntimeConfig(vehicle=veh, deadline_ms=1000))
errs, speeds_true, missed, flagged_static, hits_total, mover_hits = [], [], 0, 0, 0, 0
for level in levels:
    env = gym.make(env_id, level=level, split="val"); u = env.unwrapped
    for ep in range(4):
        _, info = env.reset(seed=ep, options={"world_seed": VAL_SEEDS.start + ep}); pl.reset()
        first_seen = {}
        for step in range(600):
            s = info["summary"]
            d = pl.decide(s)
            m = pl.last.get('motion')
            if m is None:
                _, _, te, tr, info = u.step_command(d.v, d.w)
                if te or tr: break
                continue
            # ground truth: which points belong to which mover (within 0.1 m of its box)
            c, sn = math.cos(u.yaw), math.sin(u.yaw)
            P = pl.last.get('swept_points', s.points)
            W = np.stack([u.x + c * P[:, 0] - sn * P[:, 1], u.y + sn * P[:, 0] + c * P[:, 1]], 1)
            owner = np.full(len(P), -1)
            for k, mv in enumerate(u.world.movers):
                mx, my = mv.position(u.t)
                cy, sy = math.cos(mv.yaw), math.sin(mv.yaw)
                lx = np.abs(cy * (W[:, 0] - mx) + sy * (W[:, 1] - my)); ly = np.abs(-sy * (W[:, 0] - mx) + cy * (W[:, 1] - my))
                owner[(lx < mv.half_x + 0.08) & (ly < mv.half_y + 0.08)] = k
            for k, mv in enumerate(u.world.movers):
                sel = owner == k
                if not sel.any(): continue
                # true velocity in odom
                p0 = np.array(mv.position(u.t)); p1 = np.array(mv.position(u.t + 0.05)); vt = (p1 - p0) / 0.05
                vt_r = np.array([c * vt[0] + sn * vt[1], -sn * vt[0] + c * vt[1]])
                dist = np.hypot(*(np.array(mv.position(u.t)) - [u.x, u.y]))
                mover_hits += sel.sum()
                if dist < 4.0:
                    first_seen.setdefault(k, u.t)
                    if m.moving[sel].any():
                        errs.append(np.hypot(*(m.velocity[sel][m.moving[sel]].mean(0) - vt_r)))
                        speeds_true.append(np.hypot(*vt_r))
                    else:
                        missed += 1
            flagged_static += int((m.moving & (owner < 0)).sum()); hits_total += int((owner < 0).sum())
            _, _, te, tr, info = u.step_command(d.v, d.w)
            if te or tr: break
    env.close()
errs = np.array(errs)
print(suite, "mover-within-4m observations:", len(errs) + missed, "detected", len(errs), "missed", missed,
      "| velocity error p50 %.2f p90 %.2f m/s (true speed p50 %.2f)" % (np.median(errs), np.percentile(errs, 90), np.median(speeds_true)),
      "| static hits flagged moving: %d of %d (%.2f%%)" % (flagged_static, hits_total, 100 * flagged_static / hits_total))
