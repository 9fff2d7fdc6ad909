"""MotionTracker velocity estimators side by side, offline, on the same recorded scans (docs/BENCHMARKS.md,
"Session 16").

Records VAL Nav episodes (levels 3-5, worlds FIRST..FIRST+N-1, the shipped planner driving with the default
runtime, deadline 1000 ms): every SensorSummary and, from the simulator's truth (privileged: for this
measurement only), which hits lie on a mover and that mover's true velocity. Then replays the same scans
through a fresh MotionTracker per variant (VerifierConfig overrides) and prints, per variant, for movers within
3 m: how often the tracker marks them moving, the velocity error p50/p90/p99 (m/s; per mover and scan, the
mean over its hits the tracker marks moving), the error in the first 0.5 s after a mover turns back and
elsewhere, the median error at each of the first 6 scans after a turn, and the share of static hits called
moving, and what one `update` costs (ms; the variants timed interleaved, scan by scan). Every variant sees
the same scans (those the default planner drove through), so the table compares estimators only; what a
variant does to outcomes needs `verifier_val_ab.py --vcfg ...`.

    .venv/bin/python docs/bench/tracker_velocity_ab.py --episodes 15 --first 0 \\
        base motion_fit=0 motion_flip_speed=0 motion_smoothing=0
"""
import argparse
import json
import time

import gymnasium as gym
import numpy as np

import sim  # noqa: F401  (registers the environments)
from planner.runtime import Planner, RuntimeConfig
from planner.verifier import MotionTracker, VerifierConfig
from sim.worlds import SPLITS


def record(first: int, episodes: int) -> list[list[tuple]]:
    planner = Planner(RuntimeConfig(model_path="models/weights/mini.card.json", vehicle="jackal", deadline_ms=1000))
    runs = []
    for level in (3, 4, 5):
        env = gym.make("planner/Nav-v0", level=level, split="val")
        u = env.unwrapped
        for i in range(first, first + episodes):
            _, info = env.reset(seed=i, options={"world_seed": SPLITS["val"].start + i})
            planner.reset()
            steps = []
            while True:
                summary = info["summary"]
                steps.append((summary, *u.true_motion(summary.points)))
                d = planner.decide(summary)
                _, _, terminated, truncated, info = u.step_command(d.v, d.w)
                if terminated or truncated:
                    break
            runs.append(steps)
        env.close()
    return runs


def score(runs: list, cfgs: list[VerifierConfig]) -> list[dict]:
    """Every variant replays the same scans; their updates are timed interleaved, scan by scan."""
    rows = [[] for _ in cfgs]         # per variant: (scans since the mover last turned, error or NaN)
    cost = [[] for _ in cfgs]
    false_moving, static_hits = [0] * len(cfgs), 0
    for steps in runs:
        trackers, last = [MotionTracker(cfg) for cfg in cfgs], {}
        for summary, velocity, on_mover in steps:
            motions = []
            for k, tracker in enumerate(trackers):
                t0 = time.perf_counter()
                motions.append(tracker.update(summary))
                cost[k].append((time.perf_counter() - t0) * 1e3)
            static_hits += int((~on_mover).sum())
            near = on_mover & (np.hypot(*np.asarray(summary.points).reshape(-1, 2).T) < 3.0)
            movers = np.unique(np.round(velocity[near], 3), axis=0)
            since = []
            for v in movers:
                mover = round(float(np.hypot(*v)), 2)        # movers keep their speed: it names them
                seen = last.get(mover)
                if seen is None or np.dot(seen[0], v) < 0:   # first seen (counts as long ago) or turned back
                    last[mover] = [v, 99 if seen is None else 0]
                else:
                    seen[1] += 1
                since.append(last[mover][1])
            for k, motion in enumerate(motions):
                false_moving[k] += int((motion.moving & ~on_mover).sum())
                for v, n in zip(movers, since):
                    hit = near & np.all(np.round(velocity, 3) == v, axis=1) & motion.moving
                    rows[k].append((n, float(np.hypot(*(motion.velocity[hit].mean(axis=0) - v))) if hit.any() else np.nan))
    out = []
    for k in range(len(cfgs)):
        since, err = np.array(rows[k]).T
        ok = ~np.isnan(err)
        turned = since < 10

        def pct(mask, q):
            return round(float(np.percentile(err[mask & ok], q)), 2) if (mask & ok).any() else None
        ms = np.array(cost[k])
        out.append(dict(marked_moving=round(float(ok.mean()), 3), err_p50=pct(ok, 50), err_p90=pct(ok, 90),
                        err_p99=pct(ok, 99), turn_p50=pct(turned, 50), turn_p90=pct(turned, 90),
                        other_p50=pct(~turned, 50), other_p90=pct(~turned, 90),
                        after_turn_p50=[pct(since == n, 50) for n in range(6)],
                        static_called_moving=round(false_moving[k] / max(static_hits, 1), 4),
                        update_ms={q: round(float(np.percentile(ms, p)), 3) for q, p in (("p50", 50), ("p99", 99))}
                        | {"max": round(float(ms.max()), 3)}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=15, help="per level (3, 4, 5)")
    ap.add_argument("variants", nargs="+", help="'base' (defaults) or VerifierConfig overrides k=v,k=v")
    a = ap.parse_args()
    runs = record(a.first, a.episodes)
    cfgs = [VerifierConfig(**({} if v == "base" else {k: float(x) for k, x in (kv.split("=") for kv in v.split(","))}))
            for v in a.variants]
    results = dict(zip(a.variants, score(runs, cfgs)))
    print(json.dumps(dict(first=a.first, episodes_per_level=a.episodes, scans=sum(map(len, runs)), variants=results)))
    print(f"{'variant':60s} {'moving':>6s} {'p50':>5s} {'p90':>5s} {'p99':>5s} {'turn p50':>8s} {'other p90':>9s} "
          f"{'update p50/p99/max ms':>22s}  error p50 at scans 0-5 after a turn")
    for name, r in results.items():
        ms = r["update_ms"]
        print(f"{name:60s} {r['marked_moving']:6.3f} {r['err_p50']:5.2f} {r['err_p90']:5.2f} {r['err_p99']:5.2f} "
              f"{r['turn_p50']:8.2f} {r['other_p90']:9.2f} {ms['p50']:6.3f}/{ms['p99']:6.3f}/{ms['max']:6.3f}  "
              f"{r['after_turn_p50']}")


if __name__ == "__main__":
    main()
