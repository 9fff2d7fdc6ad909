"""Per-episode metrics, shared by every environment and the evaluation entry point.

- success / collision / timeout / out_of_road: the outcome (exactly one is true)
- time (s), path_length (m) driven
- spl: success * reference_length / max(path_length, reference_length) (Anderson et al. 2018)
- barn_score: success * opt_time / clip(time, 2 * opt_time, 8 * opt_time), opt_time = reference path
  length / max speed (BARN; the best possible score is 0.5)
- min_clearance (m): smallest free distance between the footprint and an obstacle seen along the lidar
  beams (noise-free ranges minus the footprint extent along each beam; obstacles behind the lidar's
  field of view are not counted)
- mean_abs_jerk (m/s^3): mean |d^3 x / dt^3| of the forward motion; mean_abs_yaw_jerk (rad/s^3)
"""
from __future__ import annotations

import math

import numpy as np

OUTCOMES = ("success", "collision", "timeout", "out_of_road")


def barn_score(success: bool, time: float, opt_time: float) -> float:
    if not success or not (opt_time > 0) or not math.isfinite(opt_time):
        return 0.0
    return float(opt_time / np.clip(time, 2 * opt_time, 8 * opt_time))


def spl(success: bool, path_length: float, reference_length: float) -> float:
    if not success or not math.isfinite(reference_length):
        return 0.0
    return float(reference_length / max(path_length, reference_length, 1e-9))


class EpisodeRecorder:
    """Accumulates one episode step by step; `finish(outcome)` returns the metrics dict."""

    def __init__(self, dt: float, max_speed: float, reference_length: float, start_xy: tuple[float, float]):
        self.dt, self.max_speed, self.reference_length = dt, max_speed, reference_length
        self.xy = [tuple(start_xy)]
        self.v: list[float] = [0.0]
        self.w: list[float] = [0.0]
        self.path_length = 0.0
        self.min_clearance = math.inf
        self.steps = 0

    def add(self, x: float, y: float, v: float, w: float, clearance: float) -> None:
        px, py = self.xy[-1]
        self.path_length += math.hypot(x - px, y - py)
        self.xy.append((x, y))
        self.v.append(v)
        self.w.append(w)
        self.min_clearance = min(self.min_clearance, clearance)
        self.steps += 1

    @property
    def trail(self) -> np.ndarray:
        return np.asarray(self.xy)

    def finish(self, outcome: str) -> dict:
        assert outcome in OUTCOMES, outcome
        time = self.steps * self.dt
        opt_time = self.reference_length / self.max_speed
        success = outcome == "success"
        jerk = np.diff(np.asarray(self.v), n=2) / self.dt ** 2 if self.steps >= 2 else np.zeros(1)
        yaw_jerk = np.diff(np.asarray(self.w), n=2) / self.dt ** 2 if self.steps >= 2 else np.zeros(1)
        out = {k: outcome == k for k in OUTCOMES}
        out.update(
            outcome=outcome, steps=self.steps, time=time, path_length=self.path_length,
            reference_length=self.reference_length, opt_time=opt_time,
            spl=spl(success, self.path_length, self.reference_length),
            barn_score=barn_score(success, time, opt_time),
            min_clearance=float(self.min_clearance) if math.isfinite(self.min_clearance) else float("nan"),
            mean_abs_jerk=float(np.mean(np.abs(jerk))), mean_abs_yaw_jerk=float(np.mean(np.abs(yaw_jerk))),
        )
        return out


METRIC_KEYS = ("success", "collision", "timeout", "out_of_road", "time", "path_length", "spl", "barn_score",
               "min_clearance", "mean_abs_jerk")


def aggregate(episodes: list[dict]) -> dict:
    """Means over episodes (rates for the outcomes); time and path length over successes only too."""
    n = len(episodes)
    if n == 0:
        return {"episodes": 0}
    out: dict = {"episodes": n}
    for k in METRIC_KEYS:
        vals = np.array([float(e[k]) for e in episodes], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if vals.size else float("nan")
    ok = [e for e in episodes if e["success"]]
    out["time_success"] = float(np.mean([e["time"] for e in ok])) if ok else float("nan")
    return out
