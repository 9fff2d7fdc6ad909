"""The verifier: sweep a motion primitive's footprint against the current lidar points.

Every primitive is rolled out from the current twist (`planner.vehicles.rollout`, acceleration limits
included), then extended by the distance the vehicle needs to brake to a stop at the end of the
horizon. The vehicle's rectangle is placed at each pose and its distance to every lidar hit (robot
frame) is taken; the minimum over the sweep is the primitive's clearance. A primitive is safe when
its clearance exceeds `safety_margin`.

`Verifier.verify` checks the network's choice first (the common, cheap case); a colliding choice is
replaced by the best-scoring safe alternative, and if nothing is safe the decision is a controlled
stop. The same sweep (`Verifier.sweep`) serves the DWA baseline, so there is one collision check.

Cars (ackermann) get a second way to pass, as a car really drives (steering angle rate-limited from
the current one, `Verifier.car_paths`): both (a) holding the command's steering for `car_commit_time`
and then braking to a stop on that curvature (what the fallback does: brake, steering held), and
(b) holding it that long, steering back to straight at the same speed to the horizon's end and then
braking, clear every lidar hit by `car_margin` (so also the guard rails, 0.8 m outside the paved edge
on Drive-v0). (a) keeps the guarantee that a controlled stop is clear at every decision; (b) keeps
the full sweep's look-ahead distance for what lies ahead. Without this, a full-lock command held for
the 2 s horizon plus braking is a U-turn into the rail: every lane change was corrected to straight
on and the car queued behind the first parked car until timeout (docs/BENCHMARKS.md, "Drive stall").

Limits, by design: it knows only what the current scan shows. Space outside the lidar's field of
view (behind a 270-degree scanner) and moving obstacles' future motion are not modelled; a scan with
too few usable beams is not trusted at all (stop, with the reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from planner.config import require
from planner.errors import ConfigError
from planner.sensing import SensorSummary
from planner.vehicles import NUM_PRIMITIVES, STOP, VehicleSpec, primitive_table, rollout


@dataclass(frozen=True)
class VerifierConfig:
    horizon: float = 2.0            # s swept ahead (the local path's length in time)
    dt: float = 0.2                 # s between swept poses; vehicle must move less than its length per dt
    safety_margin: float = 0.05     # m; a primitive is safe when its clearance exceeds this
    braking: bool = True            # also sweep the stopping distance at the end of the horizon
    clearance_cap: float = 1.0      # m; clearances are reported up to this (points beyond are ignored)
    min_valid_fraction: float = 0.8  # below this fraction of usable beams: stop, the scan is not trusted
    batch: int = 8                  # alternatives checked per batch when the choice collides
    car_commit_time: float = 0.5    # s; ackermann: also safe if held this long then braking is clear; 0 = off
    car_margin: float = 0.85        # m; clearance the commit-then-brake check requires (Drive's guard
                                    # rails stand 0.8 m outside the paved edge; the lidar sees the rails)

    def validate(self) -> None:
        require(self.horizon >= 1.5, "verifier horizon must be >= 1.5 s")
        require(0 < self.dt <= self.horizon / 5, "verifier dt must give >= 5 poses over the horizon")
        require(self.safety_margin >= 0, "safety_margin must be >= 0")
        require(self.clearance_cap > self.safety_margin, "clearance_cap must exceed safety_margin")
        require(0 < self.min_valid_fraction <= 1, "min_valid_fraction must be in (0, 1]")
        require(self.batch >= 1, "batch must be >= 1")
        require(0 <= self.car_commit_time <= self.horizon, "car_commit_time must be in [0, horizon]")
        require(0 <= self.car_margin < self.clearance_cap, "car_margin must be in [0, clearance_cap)")


Status = Literal["verified", "corrected", "fallback"]


@dataclass(frozen=True)
class Verified:
    primitive: int               # index into the primitive table (STOP for a fallback)
    v: float                     # command to send, m/s
    w: float                     # rad/s
    status: Status
    reason: str                  # why it was corrected / why we stop ("" when verified)
    path_robot: np.ndarray = field(repr=False)   # (N, 3) swept path without the braking tail, robot frame
    clearance: float = 0.0       # m, of the primitive sent (capped at clearance_cap)


def stopping_tail(poses: np.ndarray, v_end: np.ndarray, w_end: np.ndarray, decel: float,
                  n_tail: int) -> np.ndarray:
    """(P, n_tail, 3) poses continuing each path's final curvature while braking to a stop."""
    d = v_end ** 2 / (2.0 * decel)                                         # (P,)
    kappa = np.where(v_end > 1e-6, w_end / np.maximum(v_end, 1e-6), 0.0)
    s = d[:, None] * (np.arange(1, n_tail + 1) / n_tail)[None, :]           # arc length (P, T)
    end = poses[:, -1, :]
    heading = end[:, 2:3] + 0.5 * kappa[:, None] * s                        # chord direction of an arc
    chord = s * np.sinc(kappa[:, None] * s / (2 * np.pi))                   # 2 sin(ks/2)/k
    return np.stack([end[:, 0:1] + chord * np.cos(heading), end[:, 1:2] + chord * np.sin(heading),
                     end[:, 2:3] + kappa[:, None] * s], axis=-1)


def sweep_clearance(poses: np.ndarray, points: np.ndarray, half_length: float,
                    half_width: float) -> np.ndarray:
    """Min distance (P,) between the rectangles placed at poses (P, N, 3) and points (M, 2).

    0 when a point lies inside a rectangle; +inf when there are no points. One (M, 2) x (2, 2K)
    product puts every point in every pose's frame, then the point-to-rectangle distance is elementwise.
    """
    p, n, _ = poses.shape
    if points.shape[0] == 0:
        return np.full(p, np.inf)
    flat = poses.reshape(-1, 3).astype(np.float32)
    c, s = np.cos(flat[:, 2]), np.sin(flat[:, 2])
    k = flat.shape[0]
    rot = np.concatenate([np.stack([c, s]), np.stack([-s, c])], axis=1)     # (2, 2K)
    offset = np.concatenate([flat[:, 0] * c + flat[:, 1] * s, -flat[:, 0] * s + flat[:, 1] * c])
    # einsum's own loop, not BLAS: a threaded BLAS on a busy CPU turns 0.1 ms into tens of ms.
    local = np.einsum("mi,ik->mk", points.astype(np.float32), rot)          # (M, 2K): x' | y'
    local -= offset
    np.abs(local, out=local)
    local[:, :k] -= half_length
    local[:, k:] -= half_width
    np.maximum(local, 0.0, out=local)
    np.square(local, out=local)
    d2 = local[:, :k] + local[:, k:]                                        # (M, K)
    return np.sqrt(d2.min(axis=0).reshape(p, n).min(axis=1).astype(np.float64))


class Verifier:
    """Footprint sweep of motion primitives against lidar points; see the module docstring."""

    def __init__(self, vehicle: VehicleSpec, cfg: VerifierConfig = VerifierConfig()):
        cfg.validate()
        vehicle.validate()
        if vehicle.max_speed * cfg.dt > vehicle.length:
            # Consecutive footprints must overlap or a thin obstacle could slip between two poses.
            raise ConfigError(f"verifier dt={cfg.dt} s is too coarse: the vehicle moves "
                              f"{vehicle.max_speed * cfg.dt:.2f} m per step, more than its length")
        self.vehicle, self.cfg = vehicle, cfg
        self.table = primitive_table(vehicle).astype(np.float64)
        self.half_length, self.half_width = vehicle.length / 2, vehicle.width / 2
        d_max = vehicle.max_speed ** 2 / (2 * vehicle.max_accel)
        # Tail poses spaced by at most 0.9 footprint lengths (same overlap argument as dt).
        self.n_tail = max(1, math.ceil(d_max / (0.9 * vehicle.length))) if cfg.braking else 0
        # Commit-then-brake check (cars only; needs the braking tail to mean anything).
        use_commit = vehicle.kind == "ackermann" and cfg.car_commit_time > 0 and cfg.braking
        self.n_commit = math.ceil(cfg.car_commit_time / cfg.dt - 1e-9) if use_commit else 0
        self.n_horizon = int(round(cfg.horizon / cfg.dt))

    # -- sweeping ---------------------------------------------------------------------------
    def paths(self, v0: float, w0: float, cmds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(path (K, N, 3) over the horizon, swept poses (K, N + tail, 3)) for (v, w) commands (K, 2)
        from the current twist (v0, w0), robot frame."""
        cmds = np.asarray(cmds, dtype=np.float64).reshape(-1, 2)
        path = rollout(v0, w0, cmds[:, 0], cmds[:, 1], self.vehicle, self.cfg.horizon, self.cfg.dt)
        if not self.n_tail:
            return path, path
        # Speed and yaw rate at the end of the horizon, from the last two poses.
        v_end = np.hypot(*(path[:, -1, :2] - path[:, -2, :2]).T) / self.cfg.dt
        w_end = (path[:, -1, 2] - path[:, -2, 2]) / self.cfg.dt
        tail = stopping_tail(path, v_end, w_end, self.vehicle.max_accel, self.n_tail)
        return path, np.concatenate([path, tail], axis=1)

    def car_paths(self, v0: float, w0: float, cmds: np.ndarray, straighten: bool) -> np.ndarray:
        """(K, n + n_tail, 3) robot-frame poses of a car holding each (v, w) command's steering for
        n_commit * dt (>= car_commit_time), then braking to a stop on the curvature it ends with (what
        the fallback does: the steering stays) when not `straighten`; when `straighten`, steering back
        to straight at the same speed until the horizon's end, then braking (a lane change as it is
        driven: it keeps the full sweep's look-ahead distance for what is ahead). Unlike `rollout`, the
        steering angle moves from the current one (w0 / v0) at most max_steer_rate."""
        veh, dt = self.vehicle, self.cfg.dt
        cmds = np.asarray(cmds, dtype=np.float64).reshape(-1, 2)
        v_cmd, w_cmd = cmds[:, 0], cmds[:, 1]
        moving = np.abs(v_cmd) >= 1e-6
        steer = np.full(cmds.shape[0], veh.steer_for(v0, w0) if abs(v0) > 0.1 else 0.0)
        target = np.clip(np.arctan(np.where(moving, w_cmd * veh.wheelbase / np.where(moving, v_cmd, 1.0), 0.0)),
                         -veh.max_steer, veh.max_steer)
        target = np.where(moving, target, steer)
        v = np.full(cmds.shape[0], float(v0))
        x, y, yaw = (np.zeros(cmds.shape[0]) for _ in range(3))
        poses = []
        for step in range(self.n_horizon if straighten else self.n_commit):
            if step == self.n_commit:
                target = np.zeros_like(target)
            v = v + np.clip(v_cmd - v, -veh.max_accel * dt, veh.max_accel * dt)
            steer = steer + np.clip(target - steer, -veh.max_steer_rate * dt, veh.max_steer_rate * dt)
            w = v * np.tan(steer) / veh.wheelbase
            mid = yaw + 0.5 * w * dt
            x, y, yaw = x + v * np.cos(mid) * dt, y + v * np.sin(mid) * dt, yaw + w * dt
            poses.append(np.stack([x, y, yaw], axis=-1))
        poses = np.stack(poses, axis=1)                                         # (K, n, 3)
        tail = stopping_tail(poses, v, v * np.tan(steer) / veh.wheelbase, veh.max_accel, self.n_tail)
        return np.concatenate([poses, tail], axis=1)

    def _relevant_points(self, points: np.ndarray, swept: np.ndarray) -> np.ndarray:
        """Points that can be within clearance_cap of any swept footprint (others only cost time)."""
        if points.shape[0] == 0:
            return points
        reach = float(np.hypot(swept[..., 0], swept[..., 1]).max())
        radius = reach + math.hypot(self.half_length, self.half_width) + self.cfg.clearance_cap
        keep = np.einsum("ij,ij->i", points, points) <= radius * radius
        return points[keep]

    def sweep(self, summary: SensorSummary, cmds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clearance (K,) in m (capped at clearance_cap) and path (K, N, 3) of arbitrary (v, w)
        commands (K, 2) swept from the summary's twist against its lidar points. The verifier sweeps
        primitives with it; the DWA baseline sweeps its velocity samples."""
        path, swept = self.paths(summary.twist.v, summary.twist.w, cmds)
        pts = np.asarray(summary.points, dtype=np.float64).reshape(-1, 2)
        pts = self._relevant_points(pts[np.isfinite(pts).all(axis=1)], swept)
        clearance = sweep_clearance(swept, pts, self.half_length, self.half_width)
        return np.minimum(clearance, self.cfg.clearance_cap), path

    def _clearance(self, summary: SensorSummary, primitives: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return self.sweep(summary, self.table if primitives is None else self.table[primitives])

    def _deciding_clearance(self, summary: SensorSummary, primitives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like _clearance, but for a car a primitive failing the full sweep passes when both car_paths
        (commit then brake; commit, straighten, then brake) clear every lidar hit by car_margin:
        clearance = the smaller of the two, path = the straightening one (same size as the full path)."""
        clear, path = self._clearance(summary, primitives)
        if not self.n_commit:
            return clear, path
        retry = np.flatnonzero(~self.is_safe(clear))
        if not retry.size:
            return clear, path
        cmds = self.table[primitives[retry]]
        v0, w0 = summary.twist.v, summary.twist.w
        stop, drive = self.car_paths(v0, w0, cmds, False), self.car_paths(v0, w0, cmds, True)
        pts = np.asarray(summary.points, dtype=np.float64).reshape(-1, 2)
        pts = self._relevant_points(pts[np.isfinite(pts).all(axis=1)], drive)
        pts = pts if pts.shape[0] else pts.reshape(0, 2)
        car_clear = np.minimum(sweep_clearance(stop, pts, self.half_length, self.half_width),
                               sweep_clearance(drive, pts, self.half_length, self.half_width))
        car_clear = np.minimum(car_clear, self.cfg.clearance_cap)
        clear, path = clear.copy(), path.copy()
        for j, k in enumerate(retry):
            if car_clear[j] > max(self.cfg.car_margin, self.cfg.safety_margin):
                clear[k] = car_clear[j]
                path[k] = drive[j, :path.shape[1]]
        return clear, path

    def clearances(self, summary: SensorSummary) -> np.ndarray:
        """(NUM_PRIMITIVES,) clearance in m of every primitive's swept footprint (capped)."""
        return self._clearance(summary, None)[0]

    def is_safe(self, clearance: np.ndarray | float) -> np.ndarray | bool:
        return np.asarray(clearance) > self.cfg.safety_margin
    # -- deciding ---------------------------------------------------------------------------
    def unusable_reason(self, summary: SensorSummary) -> str:
        """Why the summary cannot be trusted for a safety check ("" when it can)."""
        if summary.vehicle != self.vehicle:
            return "sensor summary is for a different vehicle than the verifier's"
        return summary.lidar_unusable(self.cfg.min_valid_fraction)

    def stop(self, summary: SensorSummary, reason: str) -> Verified:
        path, _ = self.paths(summary.twist.v, summary.twist.w, self.table[[STOP]])
        return Verified(STOP, 0.0, 0.0, "fallback", reason, path[0], 0.0)

    def verify(self, summary: SensorSummary, scores: np.ndarray, chosen: int) -> Verified:
        """Check `chosen`; if it collides, take the best-scoring safe alternative; else stop."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != NUM_PRIMITIVES or not 0 <= int(chosen) < NUM_PRIMITIVES:
            return self.stop(summary, f"bad decision input (scores {scores.shape}, chosen {chosen})")
        reason = self.unusable_reason(summary)
        if reason:
            return self.stop(summary, reason)
        chosen = int(chosen)
        clear, path = self._deciding_clearance(summary, np.array([chosen]))
        if self.is_safe(clear[0]):
            v, w = self.table[chosen]
            return Verified(chosen, float(v), float(w), "verified", "", path[0], float(clear[0]))
        # Alternatives in score order (NaN scores last), checked in small batches: the first batch
        # usually holds a safe one, so we rarely sweep all primitives.
        # STOP is not an alternative: stopping is what the fallback does, and says why.
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        order = order[(order != chosen) & (order != STOP)]
        for start in range(0, order.size, self.cfg.batch):
            batch = order[start:start + self.cfg.batch]
            clear_b, path_b = self._deciding_clearance(summary, batch)
            safe = np.flatnonzero(self.is_safe(clear_b))
            if safe.size:
                j = safe[0]
                alt = int(batch[j])
                v, w = self.table[alt]
                why = f"primitive {chosen} clearance {clear[0]:.2f} m <= {self.cfg.safety_margin} m"
                return Verified(alt, float(v), float(w), "corrected", why, path_b[j], float(clear_b[j]))
        return self.stop(summary, f"no safe primitive (chosen {chosen} clearance {clear[0]:.2f} m; "
                                  f"all {NUM_PRIMITIVES} collide within {self.cfg.horizon} s + braking)")
