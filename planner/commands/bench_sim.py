"""`planner bench sim`: Nav-v0 env steps per second on one core, and where the time goes.

Two drivers; each first records whole episodes (reset seed + actions), then replays them timing only
env.reset + env.step (same seeds and actions give the same trajectories), resets counted:
- expert: the privileged expert's actions, so episodes are as long as a competent policy's (what
  PPO sees once it drives);
- random: uniformly random primitives (short episodes: resets weigh much more).
Then a breakdown: each component of a step timed on its own, in the same process, on the same world.
Throughput is reported per wall-clock second and per CPU second of this process (`steps_per_cpu_s`):
on a shared, loaded machine the second is the one-core figure; on an idle one they agree.
"""
from __future__ import annotations

import argparse
import math
import os
import time

from planner.cli import seed_int

HELP = "Simulator throughput: Nav-v0 env steps/s (one core) and per-component timings."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=3000, help="timed env steps per driver (default 3000)")
    p.add_argument("--level", type=int, default=4, help="Nav level (default 4: ~36 boxes + 4 walls + movers)")
    p.add_argument("--beams", type=int, default=64, help="lidar beams (default 64)")
    p.add_argument("--seed", type=seed_int, default=0)


def _episodes(env, policy: str, steps: int, seed: int,
              policy_us: list[float] | None = None) -> list[tuple[int, list[int]]]:
    """(reset seed, actions) of whole episodes totalling >= steps, chosen by `policy`; the policy's
    CPU time per call is appended to `policy_us`."""
    import numpy as np
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    out, total, k = [], 0, seed
    while total < steps:
        env.reset(seed=k)
        actions = []
        while True:
            c0 = time.process_time()
            a = u.expert_action() if policy == "expert" else int(rng.integers(env.action_space.n))
            if policy_us is not None:
                policy_us.append(1e6 * (time.process_time() - c0))
            actions.append(a)
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                break
        out.append((k, actions))
        total += len(actions)
        k += 1
    return out


def _time_driver(env, policy: str, steps: int, seed: int, policy_us: list[float] | None = None) -> dict:
    """Replay recorded episodes (same seeds, same actions: the same trajectories) and time only
    env.reset + env.step, so the policy's own work neither counts nor pollutes the caches."""
    import numpy as np

    from planner.report import latency_stats
    u = env.unwrapped
    episodes = _episodes(env, policy, steps, seed, policy_us)
    step_s = reset_s = step_cpu = reset_cpu = 0.0
    resets, obstacles = [], []
    done_steps = 0
    for k, actions in episodes:
        t0, c0 = time.perf_counter(), time.process_time()
        env.reset(seed=k)
        dt = time.perf_counter() - t0
        reset_s += dt
        reset_cpu += time.process_time() - c0
        resets.append(dt * 1000)
        obstacles.append(u.scene.static_count + len(u.world.movers))
        t0, c0 = time.perf_counter(), time.process_time()
        for a in actions:
            env.step(a)
        step_s += time.perf_counter() - t0
        step_cpu += time.process_time() - c0
        done_steps += len(actions)
    return {"policy": policy, "steps": done_steps, "episodes": len(episodes),
            "steps_per_s": done_steps / (step_s + reset_s), "steps_per_cpu_s": done_steps / (step_cpu + reset_cpu),
            "step_only_steps_per_s": done_steps / step_s, "step_us": 1e6 * step_s / done_steps,
            "step_cpu_us": 1e6 * step_cpu / done_steps, "reset_cpu_ms": 1e3 * reset_cpu / len(episodes),
            "reset_ms": latency_stats(resets), "mean_obstacles": float(np.mean(obstacles))}


def _breakdown(env, n: int = 2000) -> dict:
    """Microseconds per call of each piece of a step, measured on the current world."""
    from planner.sensing import Pose2D, Twist2D, summarize
    from sim.core import make_scan
    u = env.unwrapped
    x, y, yaw = u.x, u.y, u.yaw
    out = {}

    def timed(name, fn):   # CPU time of this process: robust to other load on a shared machine
        t0 = time.process_time()
        for _ in range(n):
            fn()
        out[name] = 1e6 * (time.process_time() - t0) / n

    raw = u.scene.ray_ranges(x, y, yaw)
    scan = make_scan(raw, u.lidar_cfg, u.np_random)
    timed("lidar_rayTestBatch", lambda: u.scene.ray_ranges(x, y, yaw))
    timed("scan_noise", lambda: make_scan(raw, u.lidar_cfg, u.np_random))
    timed("summarize", lambda: summarize(scan, Pose2D(x, y, yaw), Twist2D(0.5, 0.1), u.world.goal,
                                         vehicle=u.vehicle, cfg=u.sensing))
    timed("collision_check", lambda: (u.scene.set_robot(x, y, yaw), u.scene.in_collision()))
    timed("move_movers", lambda: u.scene.move_movers(u.t))
    return out


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import gymnasium as gym

    import sim  # noqa: F401  (registers the envs)
    from planner.errors import ConfigError
    from planner.report import emit, format_table, log, machine_info
    from planner.report import latency_stats
    from sim.worlds import check_level
    check_level(args.level)
    if args.steps < 100:
        raise ConfigError("--steps must be >= 100")
    env = gym.make("planner/Nav-v0", level=args.level, lidar={"beams": args.beams})
    log.info("bench sim: Nav-v0 level %d, %d beams, %d steps per driver", args.level, args.beams, args.steps)
    expert_us: list[float] = []
    drivers = [_time_driver(env, "expert", args.steps, args.seed, expert_us),
               _time_driver(env, "random", args.steps, args.seed)]
    breakdown = _breakdown(env)
    parts = sum(breakdown.values())
    breakdown["rest of step (kinematics, reward, metrics, gym wrappers)"] = max(0.0, drivers[0]["step_cpu_us"] - parts)
    breakdown["whole step (expert driver)"] = drivers[0]["step_cpu_us"]
    env.close()
    result = {"bench": "sim", "env": "planner/Nav-v0", "level": args.level, "beams": args.beams,
              "steps_per_s": drivers[0]["steps_per_s"], "drivers": drivers, "breakdown_us": breakdown,
              "expert_action_cpu_us": latency_stats(expert_us),
              "machine": machine_info(), "threads": 1, "load_average_1m": os.getloadavg()[0]}
    rows = [[d["policy"], d["steps"], d["episodes"], d["mean_obstacles"], d["steps_per_s"], d["steps_per_cpu_s"],
             d["step_only_steps_per_s"], d["reset_ms"]["p50"], d["reset_ms"]["p99"], d["reset_ms"]["max"]]
            for d in drivers]
    table = format_table(rows, ["driver", "steps", "episodes", "obstacles", "steps/s (incl. resets)", "steps per CPU-s",
                                "steps/s (step only)", "reset p50 ms", "reset p99 ms", "reset max ms"])
    table += f"\n\nload average (1 min) during the run: {result['load_average_1m']:.2f} on {os.cpu_count()} CPUs"
    table += "\n\n" + format_table([[k, v] for k, v in breakdown.items()], ["component", "us per call"])
    e = result["expert_action_cpu_us"]
    table += (f"\n\nexpert_action() CPU us: p50 {e['p50']:.0f}, p99 {e['p99']:.0f}, max {e['max']:.0f} "
              f"({e['count']} calls)")
    emit(result, table, args.json)
    return 0 if math.isfinite(result["steps_per_s"]) else 1
