"""`planner bench verifier`: per-call latency of the footprint-sweep verifier (and the DWA baseline
that uses the same sweep) on real simulated scans.

Sensor summaries are recorded along expert-driven Nav-v0 episodes (levels 1-5, a 720-beam 360-degree
lidar by default, like a real 2D lidar) and Drive-v0 episodes (levels 2-4, 256 beams); then, round
robin on the same summaries, we time (wall clock, and thread CPU time, which a loaded machine's
preemption does not inflate):
- clearances: all 39 primitives swept (what DWA-like callers need);
- verify_expert: `verify` on the expert's choice (mostly safe: the common, cheap path);
- verify_random: `verify` on a random choice (often colliding: correction or fallback path);
- dwa_act: one DWA control cycle (its velocity samples swept + critics).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from planner.cli import seed_int
from planner.errors import ConfigError

HELP = "Verifier / DWA sweep latency (p50/p99/max) on recorded Nav-v0 and Drive-v0 scans."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beams", type=int, default=720, help="Nav lidar beams over 360 degrees (default 720)")
    p.add_argument("--summaries", type=int, default=400, help="summaries recorded per environment (default 400)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes over the recorded summaries (default 3)")
    p.add_argument("--seed", type=seed_int, default=1_000_000, help="first world seed (validation split, default 1000000)")


def record(env, levels: list[int], count: int, seed: int) -> tuple[list, list]:
    """Summaries and expert choices along expert-driven episodes (every 5th step)."""
    summaries, choices = [], []
    ep = 0
    while len(summaries) < count:
        _, info = env.reset(seed=ep, options={"level": levels[ep % len(levels)], "world_seed": seed + ep})
        for step in range(2000):
            a = env.unwrapped.expert_action()
            if step % 5 == 0:
                summaries.append(info["summary"])
                choices.append(a)
            _, _, term, trunc, info = env.step(a)
            if term or trunc or len(summaries) >= count:
                break
        ep += 1
    return summaries, choices


def run(args: argparse.Namespace) -> int:
    from planner.report import Progress, emit, format_table, latency_stats, machine_info
    from planner.vehicles import NUM_PRIMITIVES
    from planner.verifier import Verifier
    from sim.core import LidarConfig
    from sim.drive_env import DriveEnv
    from sim.dwa import DWAPlanner
    from sim.nav_env import NavEnv
    from planner.sensing import SensingConfig

    if args.beams < 64 or args.summaries < 10 or args.repeats < 1:
        raise ConfigError("need --beams >= 64, --summaries >= 10, --repeats >= 1")
    envs = {
        "nav": (NavEnv(split="val", lidar=LidarConfig(beams=args.beams, fov=2 * math.pi),
                       sensing=SensingConfig(fov=2 * math.pi)), [1, 2, 3, 4, 5]),
        "drive": (DriveEnv(split="val"), [2, 3, 4]),
    }
    rng = np.random.default_rng(0)
    results, rows = {}, []
    with Progress(len(envs) * (1 + args.repeats), "bench verifier") as progress:
        for name, (env, levels) in envs.items():
            summaries, choices = record(env, levels, args.summaries, args.seed)
            vehicle = env.unwrapped.vehicle
            env.close()
            progress.update(1, env=name)
            verifier = Verifier(vehicle)
            dwa = DWAPlanner()
            dwa.setup(vehicle)
            random_scores = rng.normal(size=(len(summaries), NUM_PRIMITIVES))
            calls = ("clearances", "verify_expert", "verify_random", "dwa_act")
            wall = {k: [] for k in calls}
            cpu = {k: [] for k in calls}     # thread CPU time: what the call costs without preemption
            statuses: dict[str, int] = {}
            for _ in range(args.repeats):
                for i, s in enumerate(summaries):
                    onehot = np.zeros(NUM_PRIMITIVES)
                    onehot[choices[i]] = 1.0
                    random_choice = int(np.argmax(random_scores[i]))
                    jobs = (("clearances", lambda: verifier.clearances(s)),
                            ("verify_expert", lambda: verifier.verify(s, onehot, choices[i])),
                            ("verify_random", lambda: verifier.verify(s, random_scores[i], random_choice)),
                            ("dwa_act", lambda: dwa.act(None, s)))
                    for k, job in jobs:
                        c0, t0 = time.thread_time(), time.perf_counter()
                        out = job()
                        t1, c1 = time.perf_counter(), time.thread_time()
                        wall[k].append((t1 - t0) * 1e3)
                        cpu[k].append((c1 - c0) * 1e3)
                        if k == "verify_random":
                            statuses[out.status] = statuses.get(out.status, 0) + 1
                progress.update(1, env=name)
            points = np.array([s.points.shape[0] for s in summaries])
            results[name] = {
                "vehicle": vehicle.kind, "summaries": len(summaries),
                "points_per_scan": {"p50": float(np.median(points)), "max": int(points.max())},
                "random_choice_status": statuses,
                "wall_ms": {k: latency_stats(v) for k, v in wall.items()},
                "cpu_ms": {k: latency_stats(v) for k, v in cpu.items()},
            }
            for k in calls:
                w, c = results[name]["wall_ms"][k], results[name]["cpu_ms"][k]
                rows.append([name, k, w["p50"], w["p99"], w["max"], c["p50"], c["p99"], c["max"],
                             int(np.median(points))])
    result = {"bench": "verifier", "machine": machine_info(), "nav_beams": args.beams, "results": results,
              "command": f"planner bench verifier --beams {args.beams} --summaries {args.summaries} "
                         f"--repeats {args.repeats}"}
    table = format_table(rows, ["env", "call", "wall p50 ms", "wall p99", "wall max", "cpu p50 ms", "cpu p99",
                                "cpu max", "points/scan (p50)"])
    emit(result, table, args.json)
    return 0
