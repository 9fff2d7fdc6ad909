"""The classical baseline: a lidar-only Dynamic Window Approach, as Nav2 users know it (DWB).

Like DWB's StandardTrajectoryGenerator + critics, every control cycle it
1. samples commands (v, w) in the dynamic window: velocities reachable from the current twist within
   one control period under the acceleration limits (for a car: speed x curvature samples);
2. rolls each out over `sim_time` and sweeps the footprint against the current lidar points (the
   verifier's sweep, braking distance included): colliding samples are rejected (BaseObstacle);
3. scores the rest with weighted critics, lower is better:
   obstacle (exp(-clearance / scale), like an inflation layer), goal_dist (closest approach of the
   trajectory to the goal), goal_align (end heading against the goal's bearing), speed
   (prefer fast: DWB's forward preference) and oscillation (turning direction flips);
4. sends the best; when nothing is admissible it stops (DWB reports "no valid trajectories").

It sees ONLY the sensor summary: lidar points and the goal in the robot frame, and the twist. No map,
no global path, so it can be trapped in dead ends, exactly like DWB without a global planner.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.config import require
from planner.sensing import SensorSummary
from planner.vehicles import VehicleSpec
from planner.verifier import Verifier, VerifierConfig


@dataclass(frozen=True)
class DWAConfig:
    sim_time: float = 2.0          # s each sample is rolled out (DWB sim_time: 1.7)
    v_samples: int = 9             # DWB vx_samples
    w_samples: int = 21            # DWB vtheta_samples
    window: float = 0.25           # s of acceleration that bounds the window (>= one control period)
    obstacle_scale: float = 0.25   # m; obstacle cost = exp(-clearance / scale)
    w_obstacle: float = 2.0
    w_goal_dist: float = 1.0
    w_goal_align: float = 0.6
    w_speed: float = 0.4
    w_oscillation: float = 0.1
    safety_margin: float = 0.05    # m; BaseObstacle rejects samples at or below this clearance
    # For a car on Drive-v0 the lidar sees the guard rails, which stand 0.8 m outside the paved edge:
    # keeping 1 m from them is the lidar-only way to stay on the road (a keep-out inflation in Nav2).
    car_safety_margin: float = 1.0

    def validate(self) -> None:
        require(self.sim_time >= 1.5, "dwa sim_time must be >= 1.5 s")
        require(self.v_samples >= 2 and self.w_samples >= 3, "dwa needs >= 2 v and >= 3 w samples")
        require(self.window > 0, "dwa window must be positive")


class DWAPlanner:
    """`reset(env)` then `act(env, summary) -> (v, w)` every control cycle (planner/evaluation.py)."""

    name = "dwa"

    def __init__(self, cfg: DWAConfig = DWAConfig()):
        cfg.validate()
        self.cfg = cfg
        self.vehicle: VehicleSpec | None = None
        self.verifier: Verifier | None = None
        self.last_w = 0.0
        self.last_status = ""

    def reset(self, env) -> None:
        """Take the vehicle from the environment (its kinematics, not its map)."""
        self.setup(env.unwrapped.vehicle)

    def setup(self, vehicle: VehicleSpec) -> None:
        self.vehicle = vehicle
        margin = self.cfg.car_safety_margin if vehicle.kind == "ackermann" else self.cfg.safety_margin
        self.verifier = Verifier(vehicle, VerifierConfig(horizon=self.cfg.sim_time, dt=_sweep_dt(vehicle),
                                                         safety_margin=margin,
                                                         clearance_cap=max(1.0, 2 * margin)))
        self.last_w = 0.0

    def samples(self, v0: float, w0: float) -> np.ndarray:
        """(K, 2) commands in the dynamic window around the current twist."""
        veh, c = self.vehicle, self.cfg
        dv = veh.max_accel * c.window
        v = np.linspace(max(0.0, v0 - dv), min(veh.max_speed, v0 + dv), c.v_samples)
        if veh.kind == "ackermann":
            # Curvature samples: every (v, w) is feasible for the bicycle model.
            k = np.linspace(-veh.max_curvature, veh.max_curvature, c.w_samples)
            vv, kk = np.meshgrid(v, k, indexing="ij")
            return np.stack([vv.ravel(), (vv * kk).ravel()], axis=1)
        dw = veh.max_yaw_accel * c.window
        w = np.linspace(max(-veh.max_yaw_rate, w0 - dw), min(veh.max_yaw_rate, w0 + dw), c.w_samples)
        vv, ww = np.meshgrid(v, w, indexing="ij")
        return np.stack([vv.ravel(), ww.ravel()], axis=1)

    def score(self, summary: SensorSummary) -> tuple[np.ndarray, np.ndarray]:
        """(samples (K, 2), cost (K,)); inadmissible samples cost +inf."""
        c = self.cfg
        cmds = self.samples(summary.twist.v, summary.twist.w)
        clearance, path = self.verifier.sweep(summary, cmds)
        end = path[:, -1, :]
        gx, gy = summary.goal_robot
        # Closest approach, not end point: with a global path the goal is a lookahead point, and a fast
        # trajectory running through it must not lose to a slow one ending on it (DWB scores the path).
        goal_dist = np.hypot(gx - path[:, :, 0], gy - path[:, :, 1]).min(axis=1)
        # End heading against the goal's bearing from where the robot is now (from the end point, a fast
        # trajectory past a lookahead point would be told to turn back).
        bearing = math.atan2(gy, gx) - end[:, 2]
        align = np.abs((bearing + np.pi) % (2 * np.pi) - np.pi) / np.pi
        # Near the goal the end heading matters less than getting there.
        align *= min(1.0, math.hypot(gx, gy) / 1.0)
        speed = 1.0 - cmds[:, 0] / self.vehicle.max_speed
        flip = (np.sign(cmds[:, 1]) * np.sign(self.last_w) < 0).astype(np.float64)
        reach = max(self.vehicle.max_speed * c.sim_time, 1e-6)
        cost = (c.w_obstacle * np.exp(-(clearance - self.verifier.cfg.safety_margin) / c.obstacle_scale) + c.w_goal_dist * goal_dist / reach
                + c.w_goal_align * align + c.w_speed * speed + c.w_oscillation * flip)
        cost[~self.verifier.is_safe(clearance)] = np.inf
        return cmds, cost

    def act(self, env, summary: SensorSummary) -> tuple[float, float]:
        if self.verifier is None or summary.vehicle != self.vehicle:
            self.setup(summary.vehicle)
        reason = self.verifier.unusable_reason(summary)
        if reason:
            self.last_status = f"stop: {reason}"
            return 0.0, 0.0
        cmds, cost = self.score(summary)
        best = int(np.argmin(cost))
        if not math.isfinite(cost[best]):
            self.last_status = "stop: no valid trajectories"
            self.last_w = 0.0
            return 0.0, 0.0
        v, w = (float(x) for x in cmds[best])
        self.last_w, self.last_status = w, "ok"
        return v, w


def _sweep_dt(vehicle: VehicleSpec) -> float:
    """Largest sweep step (<= 0.2 s) at which consecutive footprints still overlap."""
    return min(0.2, 0.9 * vehicle.length / vehicle.max_speed)
