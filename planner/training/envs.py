"""Training environments: the simulator's Nav/Drive envs behind one Gymnasium env whose scenario
(family, level, world seed) is chosen at each reset, so SB3 vector envs and the curriculum can move the
difficulty while training runs. World seeds come from the simulator's TRAIN range (VAL for validation)."""
from __future__ import annotations

import importlib.util
from typing import Any

import gymnasium as gym
import numpy as np

ENV_IDS = {"nav": "planner/Nav-v0", "drive": "planner/Drive-v0"}
ENV_MODULES = {"nav": "sim.nav_env", "drive": "sim.drive_env"}


def available_kinds(wanted: tuple[str, ...] = ("nav", "drive")) -> tuple[str, ...]:
    """The scenario families this install can build (Drive lands after Nav)."""
    import sim  # noqa: F401  (registers the env ids)
    return tuple(k for k in wanted if importlib.util.find_spec(ENV_MODULES[k]) is not None)


def num_levels(kind: str) -> int:
    if kind == "drive":
        from sim.roads import NUM_ROAD_LEVELS
        return NUM_ROAD_LEVELS
    from sim.worlds import NUM_LEVELS
    return NUM_LEVELS


def seed_range(split: str, kind: str = "nav") -> range:
    from sim.worlds import SPLITS
    return SPLITS[split]


class ScenarioMixEnv(gym.Env):
    """One env over many scenarios. `set_schedule(weights)` sets the probability of each
    (family, level); `reset(options={"scenario": (kind, level, seed)})` pins one (evaluation).
    `nav_kwargs`: more planner/Nav-v0 keyword arguments (e.g. expert_mover_margin for the labels).
    With `maps` (sim.worlds.World list, e.g. a user's ROS maps), the family "map" is added and its
    "level" indexes `maps` (planner finetune)."""

    metadata = {"render_modes": []}

    def __init__(self, kinds: tuple[str, ...] = ("nav",), levels: tuple[int, ...] = (), seed: int = 0,
                 split: str = "train", reward: dict | None = None, maps: list | None = None,
                 reward_scale: float = 1.0, nav_kwargs: dict | None = None):
        self.maps = list(maps or [])
        self.reward_scale = reward_scale
        self.kinds = available_kinds(tuple(k for k in kinds if k != "map"))
        if self.maps and "nav" not in self.kinds:
            self.kinds = ("nav",) + self.kinds
        if not self.kinds:
            raise ValueError(f"none of the scenario families {kinds} is available")
        self.split = split
        self._levels = {k: tuple(l for l in (levels or range(num_levels(k))) if l < num_levels(k))
                        for k in self.kinds}
        self._rng = np.random.default_rng(seed)             # scenario draws
        self._noise_rng = np.random.default_rng([seed, 1])  # sensor-noise seeds: a stream of its own, so the
                                                             # scenario sequence does not depend on it
        self._envs = {k: gym.make(ENV_IDS[k], level=self._levels[k][0], split=split, reward=reward or None,
                                  **((nav_kwargs or {}) if k == "nav" else {}))
                      for k in self.kinds}
        if self.maps:
            self._envs["map"] = self._envs["nav"]
            self._levels["map"] = tuple(range(len(self.maps)))
            self.kinds = self.kinds + ("map",)
        first = self._envs[self.kinds[0]]
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.schedule: dict[tuple[str, int], float] = {}
        self.set_schedule(self.family_schedule(0.5))
        self.current: gym.Env = first
        self.scenario: tuple[str, int, int] = (self.kinds[0], self._levels[self.kinds[0]][0], 0)
        self.steps_taken = 0          # env steps executed (the budget the SB3 baseline is matched to)

    def levels(self, kind: str) -> tuple[int, ...]:
        return self._levels[kind]

    def family_schedule(self, drive_fraction: float, levels: dict[str, tuple[int, ...]] | None = None
                        ) -> dict[tuple[str, int], float]:
        """Uniform over levels within a family; `drive_fraction` of the episodes in Drive (if present)."""
        kinds = [k for k in self.kinds if k != "map"]
        share = {"nav": 1.0 - drive_fraction, "drive": drive_fraction} if len(kinds) > 1 else {kinds[0]: 1.0}
        levels = levels or self._levels
        return {(k, l): share[k] / len(levels[k]) for k in kinds for l in levels[k]}

    def set_schedule(self, weights: dict[tuple[str, int], float]) -> None:
        """Probability (unnormalised) of drawing each (family, level) at the next resets."""
        weights = {(k, int(l)): float(w) for (k, l), w in weights.items() if k in self.kinds and w > 0}
        if not weights:
            raise ValueError("empty scenario schedule")
        self.schedule = weights

    def draw_scenario(self) -> tuple[str, int, int]:
        keys = list(self.schedule)
        p = np.array([self.schedule[k] for k in keys])
        kind, level = keys[self._rng.choice(len(keys), p=p / p.sum())]
        seeds = seed_range(self.split, "nav" if kind == "map" else kind)
        return kind, level, int(seeds[self._rng.integers(len(seeds))])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._noise_rng = np.random.default_rng([seed, 1])
        scenario = (options or {}).get("scenario") or self.draw_scenario()
        kind, level, world_seed = scenario
        self.scenario = (kind, int(level), int(world_seed))
        self.current = self._envs[kind]
        # Every inner reset gets a seed: an unseeded Gymnasium env draws its np_random (lidar noise) from OS
        # entropy, which made training and validation differ from run to run (docs/BENCHMARKS.md, session 10).
        noise_seed = int(self._noise_rng.integers(2**31))
        if kind == "map":
            obs, info = self.current.reset(seed=int(world_seed), options={"world": self.maps[int(level)]})
        else:
            obs, info = self.current.reset(seed=noise_seed, options={"level": int(level), "world_seed": int(world_seed)})
        return obs, self._tag(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.current.step(action)
        self.steps_taken += 1
        return obs, reward * self.reward_scale, terminated, truncated, self._tag(info)

    def _tag(self, info: dict) -> dict:
        info = {k: v for k, v in info.items() if k != "summary"}   # keep SB3's info buffers light
        info["scenario"] = self.scenario
        return info

    @property
    def summary(self):
        """The current scenario's latest SensorSummary (what the runtime would plan on)."""
        return self.current.unwrapped.summary

    def expert_action(self) -> int:
        return int(self.current.unwrapped.expert_action())

    def close(self) -> None:
        for env in {id(e): e for e in self._envs.values()}.values():
            env.close()
        self._envs.clear()
