"""Expert-labelled data: lockstep rollouts over several envs (so a learner policy runs batched), every
visited state labelled by the privileged expert. Used for the imitation dataset (expert only), DAgger
rounds (a mix of learner and expert drives, the expert labels) and validation (learner only)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from planner.training.envs import ScenarioMixEnv

FAMILY_CODES = {"nav": 0, "drive": 1, "map": 2}
# act(lidar (B, 64), state (B, 12)) -> primitive indices (B,)
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
Scenario = tuple[str, int, int]     # (family, level, world seed)


@dataclass
class EpisodeResult:
    scenario: Scenario
    outcome: str
    steps: int
    ret: float
    metrics: dict = field(default_factory=dict)


@dataclass
class Dataset:
    """Flat arrays, one row per visited state."""
    lidar: np.ndarray
    state: np.ndarray
    label: np.ndarray        # expert primitive index
    ret: np.ndarray          # discounted Monte-Carlo return from this state (critic target)
    family: np.ndarray       # FAMILY_CODES: 0 nav, 1 drive, 2 user map
    level: np.ndarray
    success: np.ndarray      # whether the sample's episode ended in success

    FIELDS = ("lidar", "state", "label", "ret", "family", "level", "success")

    def __len__(self) -> int:
        return len(self.label)

    @staticmethod
    def concat(parts: list["Dataset"]) -> "Dataset":
        return Dataset(*(np.concatenate([getattr(p, f) for p in parts]) for f in Dataset.FIELDS))

    def select(self, mask: np.ndarray) -> "Dataset":
        return Dataset(*(getattr(self, f)[mask] for f in Dataset.FIELDS))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **{f: getattr(self, f) for f in Dataset.FIELDS})
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> "Dataset":
        with np.load(path, allow_pickle=False) as z:
            return Dataset(*(z[f] for f in Dataset.FIELDS))


def discounted_returns(rewards: list[float], gamma: float) -> np.ndarray:
    out = np.empty(len(rewards), dtype=np.float32)
    acc = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        acc = rewards[i] + gamma * acc
        out[i] = acc
    return out


def run_episodes(envs: list[ScenarioMixEnv], scenarios: Iterator[Scenario | None], act: ActFn | None,
                 expert_prob: float = 1.0, gamma: float = 0.99, rng: np.random.Generator | None = None,
                 max_samples: int | None = None, record: bool = True,
                 on_episode: Callable[[EpisodeResult], None] | None = None) -> tuple[Dataset | None,
                                                                                      list[EpisodeResult]]:
    """Drive `envs` in lockstep through scenarios drawn from `scenarios` (None = random draw from the
    env's schedule) until the iterator is exhausted or `max_samples` recorded states are reached.

    At each step the expert labels every env's state; the executed action is the expert's with
    probability `expert_prob`, else the learner's (`act`: an ActFn, or a `VerifiedLearner`, which also
    sees every step's sensor summary). Only finished episodes are kept, so every return is a true
    Monte-Carlo return. Unfinished episodes at the end are dropped."""
    from planner.training.verified import VerifiedLearner
    verified = act if isinstance(act, VerifiedLearner) else None
    rng = rng or np.random.default_rng(0)
    n = len(envs)
    bufs: list[dict | None] = [None] * n
    obs: list[dict | None] = [None] * n
    episodes: list[EpisodeResult] = []
    parts: list[Dataset] = []
    recorded = 0
    exhausted = False

    def start(i: int) -> None:
        nonlocal exhausted
        if exhausted or (max_samples is not None and recorded >= max_samples):
            bufs[i] = None
            return
        try:
            scenario = next(scenarios)
        except StopIteration:
            exhausted = True
            bufs[i] = None
            return
        opts = {"scenario": scenario} if scenario is not None else None
        obs[i], _ = envs[i].reset(options=opts)
        if verified is not None:
            verified.reset(i)
        bufs[i] = {"lidar": [], "state": [], "label": [], "reward": []}

    for i in range(n):
        start(i)
    while any(b is not None for b in bufs):
        live = [i for i in range(n) if bufs[i] is not None]
        labels = {i: envs[i].expert_action() for i in live} if (record or expert_prob > 0) else {}
        learner = {}
        if verified is not None:
            for i in live:
                verified.observe(i, envs[i].summary)
        if act is not None and expert_prob < 1.0:
            lid = np.stack([obs[i]["lidar"] for i in live])
            st = np.stack([obs[i]["state"] for i in live])
            chosen = (verified(live, lid, st, [envs[i].summary for i in live]) if verified is not None
                      else act(lid, st))
            learner = dict(zip(live, np.asarray(chosen).tolist()))
        for i in live:
            use_expert = act is None or (expert_prob > 0 and rng.random() < expert_prob)
            action = labels[i] if use_expert else int(learner[i])
            b = bufs[i]
            if record:
                b["lidar"].append(obs[i]["lidar"])
                b["state"].append(obs[i]["state"])
                b["label"].append(labels[i])
            o, r, term, trunc, info = envs[i].step(action)
            b["reward"].append(float(r))
            obs[i] = o
            if term or trunc:
                scenario = envs[i].scenario
                result = EpisodeResult(scenario, str(info.get("outcome", "timeout" if trunc else "unknown")),
                                       len(b["reward"]), float(np.sum(b["reward"])),
                                       dict(info.get("metrics", {}) or {}))
                episodes.append(result)
                if on_episode:
                    on_episode(result)
                if record:
                    k = len(b["label"])
                    parts.append(Dataset(np.asarray(b["lidar"], np.float32), np.asarray(b["state"], np.float32),
                                         np.asarray(b["label"], np.int64), discounted_returns(b["reward"], gamma),
                                         np.full(k, FAMILY_CODES[scenario[0]], np.int8),
                                         np.full(k, scenario[1], np.int8),
                                         np.full(k, result.outcome == "success", bool)))
                    recorded += k
                start(i)
    data = Dataset.concat(parts) if record and parts else None
    return data, episodes


def random_scenarios() -> Iterator[None]:
    while True:
        yield None


def validation_scenarios(env: ScenarioMixEnv, episodes_per_level: int,
                         kinds: tuple[str, ...] | None = None) -> list[Scenario]:
    """Fixed VAL-split scenarios: the first `episodes_per_level` world seeds of each (family, level)."""
    from planner.training.envs import seed_range
    out = []
    for kind in kinds or env.kinds:
        seeds = seed_range("val", kind)
        for level in env.levels(kind):
            out += [(kind, level, int(seeds[j])) for j in range(episodes_per_level)]
    return out


def success_by_level(episodes: list[EpisodeResult]) -> dict[str, dict[str, float]]:
    """{"nav/L2": {"success": .., "collision": .., "episodes": n}, ...}"""
    groups: dict[str, list[EpisodeResult]] = {}
    for e in episodes:
        groups.setdefault(f"{e.scenario[0]}/L{e.scenario[1]}", []).append(e)
    out = {}
    for key in sorted(groups):
        g = groups[key]
        out[key] = {"episodes": len(g), "success": float(np.mean([e.outcome == "success" for e in g])),
                    "collision": float(np.mean([e.outcome in ("collision", "crash") for e in g]))}
    return out
