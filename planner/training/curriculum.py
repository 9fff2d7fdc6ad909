"""Stage 3 machinery: the difficulty level of each scenario family (Nav, Drive) rises automatically when
the success rate over the last `window` episodes at the current level passes `success_threshold`.
Episodes are drawn `review_fraction` of the time from already-passed levels so nothing is forgotten.
Also the SB3 callbacks shared by stages 2 and 3: episode statistics, progress, resumable checkpoints."""
from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from planner.report import Progress
from planner.training.logs import write_json


class Curriculum:
    def __init__(self, max_level: dict[str, int], start_level: int, success_threshold: float, window: int,
                 review_fraction: float, drive_fraction: float):
        self.max_level = dict(max_level)
        self.level = {k: min(start_level, m) for k, m in self.max_level.items()}
        self.threshold, self.window = success_threshold, window
        self.review_fraction, self.drive_fraction = review_fraction, drive_fraction
        self.recent = {k: deque(maxlen=window) for k in self.max_level}
        self.history: list[dict] = []      # level changes: {"kind", "level", "at_step"}

    def schedule(self) -> dict[tuple[str, int], float]:
        weights = {}
        share = {"nav": 1.0 - self.drive_fraction, "drive": self.drive_fraction}
        if len(self.max_level) == 1:
            share = {k: 1.0 for k in self.max_level}
        for kind, top in self.level.items():
            if top == 0:
                weights[(kind, 0)] = share[kind]
                continue
            weights[(kind, top)] = share[kind] * (1 - self.review_fraction)
            for lv in range(top):
                weights[(kind, lv)] = share[kind] * self.review_fraction / top
        return weights

    def record(self, kind: str, level: int, success: bool, step: int) -> bool:
        """Count an episode; returns True when a level rose (the schedule must be re-sent)."""
        if kind not in self.level or level != self.level[kind]:
            return False
        self.recent[kind].append(bool(success))
        r = self.recent[kind]
        if len(r) == self.window and np.mean(r) >= self.threshold and self.level[kind] < self.max_level[kind]:
            self.level[kind] += 1
            r.clear()
            self.history.append({"kind": kind, "level": self.level[kind], "at_step": step})
            return True
        return False

    def state(self) -> dict:
        return {"level": self.level, "recent": {k: list(v) for k, v in self.recent.items()},
                "history": self.history}

    def load_state(self, s: dict) -> None:
        self.level.update({k: int(v) for k, v in s["level"].items() if k in self.level})
        for k, v in s["recent"].items():
            if k in self.recent:
                self.recent[k].extend(v)
        self.history = list(s["history"])


class TrainingCallback(BaseCallback):
    """Episode outcomes -> logger (success/collision per family) and the curriculum; a progress bar;
    a resumable checkpoint (`<dir>/ckpt.zip` + `<dir>/ckpt.json`) every `checkpoint_every` env steps."""

    def __init__(self, directory: Path, total_steps: int, checkpoint_every: int, desc: str,
                 curriculum: Curriculum | None = None, extra_state: dict | None = None):
        super().__init__()
        self.dir = Path(directory)
        self.total_steps, self.checkpoint_every, self.desc = total_steps, checkpoint_every, desc
        self.curriculum = curriculum
        self.extra_state = extra_state or {}
        self.outcomes: dict[str, deque] = {}
        self._last_ckpt = 0
        self._progress: Progress | None = None

    def _on_training_start(self) -> None:
        self._progress = Progress(self.total_steps, self.desc)
        self._progress.n = self.num_timesteps
        self._last_ckpt = self.num_timesteps
        if self.curriculum is not None:
            self.training_env.env_method("set_schedule", self.curriculum.schedule())

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if not done or "scenario" not in info:
                continue
            kind, level, _ = info["scenario"]
            outcome = info.get("outcome", "unknown")
            self.outcomes.setdefault(kind, deque(maxlen=100)).append(outcome)
            if self.curriculum is not None and self.curriculum.record(kind, level, outcome == "success",
                                                                       self.num_timesteps):
                self.training_env.env_method("set_schedule", self.curriculum.schedule())
                self.logger.record(f"curriculum/{kind}_level", self.curriculum.level[kind])
        n_envs = self.training_env.num_envs
        info = {}
        for kind, outs in self.outcomes.items():
            info[f"{kind}_success"] = float(np.mean([o == "success" for o in outs]))
            self.logger.record(f"rollout/{kind}_success", info[f"{kind}_success"])
            self.logger.record(f"rollout/{kind}_collision", float(np.mean([o in ("collision", "crash") for o in outs])))
        if self.curriculum is not None:
            info.update({f"{k}_level": v for k, v in self.curriculum.level.items()})
        self._progress.update(n_envs, **info)
        if self.num_timesteps - self._last_ckpt >= self.checkpoint_every:
            self.save_checkpoint()
        return True

    def save_checkpoint(self) -> None:
        self._last_ckpt = self.num_timesteps
        tmp = self.dir / "ckpt.tmp.zip"
        self.model.save(tmp)
        tmp.replace(self.dir / "ckpt.zip")
        write_json(self.dir / "ckpt.json", {"num_timesteps": self.num_timesteps, **self.extra_state,
                                            "curriculum": self.curriculum.state() if self.curriculum else None})

    def _on_training_end(self) -> None:
        if self._progress is not None:
            self._progress.close()
