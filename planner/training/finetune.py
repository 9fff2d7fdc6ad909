"""`planner finetune`: adapt a trained MiniReasoner to a user's own maps.

Each ROS map (map_server YAML) gives many tasks: start/goal pairs drawn on its free space (clearance
>= `min_clearance`, at least `min_distance` apart, goal reachable). The privileged expert drives the
training tasks and labels every state (a few thousand examples); the model is fine-tuned on them, actor
and critic, with a share of procedural Nav data mixed in so it does not forget the general case. Success
is measured before and after on held-out tasks of the same maps (different start/goal pairs).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from planner.errors import MapError
from planner.report import Progress
from planner.training.config import TrainConfig
from planner.training.data import Dataset, random_scenarios, run_episodes
from planner.training.envs import ScenarioMixEnv

log = logging.getLogger("planner.finetune")


def map_tasks(yaml_path: str | Path, n: int, rng: np.random.Generator, min_clearance: float = 0.5,
              min_distance: float = 3.0) -> list:
    """`n` solvable tasks (sim.worlds.World with a start and a goal) on one ROS map."""
    from planner.sensing import Pose2D
    from sim.maps import load_ros_map
    base = load_ros_map(yaml_path, Pose2D(), Pose2D(), validate=False)
    grid = base.occupancy()
    clear = base.planning().clearance
    rows, cols = np.nonzero(clear >= min_clearance)
    if len(rows) < 2:
        raise MapError(f"{yaml_path}: no free space with {min_clearance} m clearance for the robot")
    xy = np.stack([grid.origin[0] + (cols + 0.5) * grid.resolution,
                   grid.origin[1] + (rows + 0.5) * grid.resolution], axis=1)
    tasks, tries = [], 0
    while len(tasks) < n and tries < 50 * n:
        tries += 1
        i, j = rng.integers(len(xy), size=2)
        (sx, sy), (gx, gy) = xy[i], xy[j]
        if np.hypot(gx - sx, gy - sy) < min_distance:
            continue
        world = dataclasses.replace(base, start=Pose2D(float(sx), float(sy), float(rng.uniform(-np.pi, np.pi))),
                                    goal=Pose2D(float(gx), float(gy)), name=f"{base.name}#{len(tasks)}")
        try:
            world.validate()
        except MapError:
            continue
        tasks.append(world)
    if len(tasks) < n:
        raise MapError(f"{yaml_path}: found only {len(tasks)} start/goal pairs {min_distance} m apart "
                       f"with {min_clearance} m clearance")
    return tasks


def success_on(model: torch.nn.Module, tasks: list, lockstep: int = 4) -> dict[str, float]:
    """Greedy success per map name on fixed tasks."""
    from planner.training.imitation import make_act_fn
    envs = [ScenarioMixEnv(("nav",), (), seed=i, split="val", maps=tasks) for i in range(lockstep)]
    try:
        _, episodes = run_episodes(envs, iter([("map", i, 1_000_000 + i) for i in range(len(tasks))]),
                                   make_act_fn(model), expert_prob=0.0, record=False)
    finally:
        for e in envs:
            e.close()
    by_map: dict[str, list[bool]] = {}
    for e in episodes:
        by_map.setdefault(tasks[e.scenario[1]].name.split("#")[0], []).append(e.outcome == "success")
    out = {k: float(np.mean(v)) for k, v in sorted(by_map.items())}
    out["all"] = float(np.mean([e.outcome == "success" for e in episodes])) if episodes else 0.0
    return out


def finetune(model: torch.nn.Module, maps: list[str], cfg: TrainConfig, mix_procedural: float = 0.3,
             train_tasks_per_map: int = 20, eval_tasks_per_map: int | None = None) -> dict:
    from planner.training.imitation import train_epochs
    from planner.training.pipeline import _path_head
    f, t0 = cfg.finetune, time.monotonic()
    rng = np.random.default_rng(cfg.seed)
    eval_n = eval_tasks_per_map or f.episodes
    train_tasks, eval_tasks = [], []
    for m in maps:
        tasks = map_tasks(m, train_tasks_per_map + eval_n, rng)
        train_tasks += tasks[:train_tasks_per_map]
        eval_tasks += tasks[train_tasks_per_map:]
    before = success_on(model, eval_tasks)
    log.info("before fine-tuning: success %s", before)
    # Expert data: user maps, plus a share of procedural Nav worlds (all levels) against forgetting.
    envs = [ScenarioMixEnv(("nav",), (), seed=cfg.seed * 1000 + 900 + i, reward=cfg.reward,
                           reward_scale=cfg.reward_scale, maps=train_tasks)
            for i in range(4)]
    for e in envs:
        w = {("map", i): (1 - mix_procedural) / len(train_tasks) for i in range(len(train_tasks))}
        w.update({k: v * mix_procedural for k, v in e.family_schedule(0.0).items()})
        e.set_schedule(w)
    with Progress(f.samples, "fine-tuning data (expert)") as bar:
        data, episodes = run_episodes(envs, random_scenarios(), None, expert_prob=1.0, gamma=cfg.imitation.gamma,
                                      max_samples=f.samples, on_episode=lambda ep: bar.update(ep.steps))
    env_steps = sum(e.steps_taken for e in envs)
    for e in envs:
        e.close()
    data = data.select(data.success)
    path_head = _path_head(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=f.lr, weight_decay=cfg.imitation.weight_decay)
    for round_ in range(f.dagger_rounds + 1):
        if round_ > 0:
            # DAgger on the user's maps: the model drives, the expert labels where it went.
            from planner.training.imitation import make_act_fn
            envs = [ScenarioMixEnv(("nav",), (), seed=cfg.seed * 1000 + 950 + 10 * round_ + i, reward=cfg.reward,
                                   reward_scale=cfg.reward_scale, maps=train_tasks) for i in range(4)]
            for e in envs:
                e.set_schedule({("map", i): 1.0 for i in range(len(train_tasks))})
            with Progress(f.dagger_samples, f"fine-tuning DAgger round {round_}") as bar:
                more, _ = run_episodes(envs, random_scenarios(), make_act_fn(model), expert_prob=0.0,
                                       gamma=cfg.imitation.gamma, max_samples=f.dagger_samples,
                                       on_episode=lambda ep: bar.update(ep.steps))
            env_steps += sum(e.steps_taken for e in envs)
            for e in envs:
                e.close()
            if more is not None:
                data = Dataset.concat([data, more])
        with Progress(len(data) * f.epochs, "fine-tuning") as bar:
            stats = train_epochs(model, optimizer, data, f.epochs, f.batch_size, cfg.imitation.value_coef,
                                 cfg.imitation.path_coef, np.random.default_rng([cfg.seed, round_]),
                                 on_batch=lambda n, s: bar.update(n, acc=s["accuracy"]),
                                 path_target=path_head(data) if path_head else None)
    model.eval()
    after = success_on(model, eval_tasks)
    log.info("after fine-tuning: success %s", after)
    return {"maps": [str(m) for m in maps], "samples": len(data), "env_steps": int(env_steps),
            "map_samples": int((data.family == 2).sum()), "train_tasks": len(train_tasks),
            "eval_tasks": len(eval_tasks), "before": before, "after": after, "final_train_stats": stats,
            "wall_s": time.monotonic() - t0}
