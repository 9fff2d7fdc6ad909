"""Why VAL episodes fail (docs/BENCHMARKS.md, "Session 6", "Session 10"): runs episodes N0..N1-1 of LEVEL
(Nav; `drive:L` for Drive level L) with the shipped model or MODEL_CARD (runtime defaults, deadline 1000 ms)
and prints, using simulator truth for diagnosis only:

- `collisions`: for every collision, the last 1.5 s step by step: robot speed and decision, the nearest
  mover's true position and velocity in the robot frame, how many swept hits lie on it, how many the
  tracker marks moving, and their mean estimated velocity;
- `timeouts`: for every timeout, where the robot ended, the share of time standing and within 2 m of a
  mover, how far the robot got around in the second half, its decision statuses, and the network's own
  most frequent choices (argmax of its raw scores; 36 = STOP) in the second half.

    .venv/bin/python docs/bench/val_trace.py collisions|timeouts LEVEL|drive:LEVEL N0 N1 [MODEL_CARD]
"""
import math
import sys
from collections import Counter

import gymnasium as gym
import numpy as np

import sim  # noqa: F401  (registers the environments)
from planner.runtime import Planner, RuntimeConfig
from sim.worlds import VAL_SEEDS


def nearest_mover(u, planner) -> dict:
    """The nearest mover, truth against what the tracker saw of it (robot frame)."""
    c, s = math.cos(u.yaw), math.sin(u.yaw)
    to_robot = np.array([[c, s], [-s, c]])
    pts = np.asarray(planner.last.get("swept_points", np.zeros((0, 2))))
    mot = planner.last.get("motion")
    rows = []
    for m in u.world.movers:
        p0, p1 = m.positions(u.t), m.positions(u.t + 0.05)
        rel, vel = to_robot @ (p0 - [u.x, u.y]), to_robot @ ((p1 - p0) / 0.05)
        near = np.linalg.norm(pts - rel, axis=1) < m.radius + 0.1 if len(pts) else np.zeros(0, bool)
        tracked = mot is not None and near.any() and mot.moving.shape[0] == len(pts)
        n_moving = int(mot.moving[near].sum()) if tracked else 0
        est = mot.velocity[near & mot.moving].mean(axis=0) if n_moving else np.zeros(2)
        rows.append(dict(dist=float(np.linalg.norm(rel)), rel=np.round(rel, 2).tolist(), vel=np.round(vel, 2).tolist(),
                         hits=int(near.sum()), moving=n_moving, est=np.round(est, 2).tolist()))
    return min(rows, key=lambda r: r["dist"])


def main() -> None:
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("collisions", "timeouts"):
        raise SystemExit("usage: val_trace.py collisions|timeouts LEVEL|drive:LEVEL N0 N1 [MODEL_CARD]")
    mode, n0, n1 = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
    suite, level = sys.argv[2].split(":") if ":" in sys.argv[2] else ("nav", sys.argv[2])
    level = int(level)
    model = sys.argv[5] if len(sys.argv) == 6 else "models/weights/mini.card.json"
    vehicle, env_id = {"nav": ("jackal", "planner/Nav-v0"), "drive": ("car", "planner/Drive-v0")}[suite]
    planner = Planner(RuntimeConfig(model_path=model, vehicle=vehicle, deadline_ms=1000))
    env = gym.make(env_id, level=level, split="val")
    u = env.unwrapped
    for i in range(n0, n1):
        _, info = env.reset(seed=i, options={"world_seed": VAL_SEEDS.start + i})
        planner.reset()
        log, statuses, reasons = [], Counter(), Counter()
        while True:
            d = planner.decide(info["summary"])
            statuses[d.status] += 1
            if d.status != "verified":
                reasons["corrected" if d.status == "corrected" else d.reason.split("(")[0][:40]] += 1
            mover_dist = min((math.hypot(*(m.positions(u.t) - [u.x, u.y])) for m in u.world.movers), default=99.0)
            log.append(dict(t=u.t, v=u.v, x=u.x, y=u.y, mover_dist=mover_dist, d=d,
                            choice=int(np.argmax(planner.last["logits"])) if "logits" in planner.last else -1,
                            m=nearest_mover(u, planner) if mode == "collisions" and u.world.movers else None))
            _, _, term, trunc, info = u.step_command(d.v, d.w)
            if term or trunc:
                break
        if mode == "collisions" and info["outcome"] == "collision":
            print(f"=== L{level} ep {i} collision t={u.t:.2f}")
            for r in log[-30:]:
                d, m = r["d"], r["m"]
                print(f"{r['t']:5.2f} v={r['v']:4.1f} {d.status[0]} p={d.primitive:2d} cmd={d.v:4.1f} | d={m['dist']:4.2f} "
                      f"rel={m['rel']} vel={m['vel']} hits={m['hits']:2d} mov={m['moving']:2d} est={m['est']}  {d.reason[:60]}")
        elif mode == "timeouts" and info["outcome"] == "timeout":
            xy = np.array([(r["x"], r["y"]) for r in log])
            standing = np.mean([abs(r["v"]) < 0.1 for r in log])
            near = np.mean([r["mover_dist"] < 2.0 for r in log])
            network = Counter(r["choice"] for r in log[len(log) // 2:])
            print(f"{suite} L{level} ep{i} T={u.t:.0f}s end=({u.x:.1f}, {u.y:.2f}) goal_dist={math.hypot(u.world.goal.x - u.x, u.world.goal.y - u.y):.1f} "
                  f"standing={standing:.2f} near_mover<2m={near:.2f} "
                  f"last-half bbox={np.ptp(xy[len(xy) // 2:], axis=0).round(1).tolist()} status={dict(statuses)} "
                  f"top={reasons.most_common(3)} network(2nd half)={network.most_common(3)}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
