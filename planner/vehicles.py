"""Vehicle kinematics and the motion primitives the planner chooses among.

The model's decision is an index into a primitive table built here for a given vehicle. The same
table is used by the expert (to label), the model (its decision head), the verifier (to sweep and
to find safe alternatives) and the simulator (to execute). Commands are (v, w): forward speed in m/s
and yaw rate in rad/s (REP 103: x forward, yaw CCW), for both vehicles; an Ackermann vehicle turns
a yaw rate into a steering angle with its wheelbase (`steer_for`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from planner.config import require


@dataclass(frozen=True)
class VehicleSpec:
    kind: Literal["diff", "ackermann"] = "diff"
    length: float = 0.51          # footprint, m (x)
    width: float = 0.43           # footprint, m (y)
    max_speed: float = 2.0        # m/s
    max_reverse: float = 0.0      # m/s (we never plan backwards; kept for completeness)
    max_yaw_rate: float = 2.0     # rad/s (diff drive)
    max_accel: float = 2.0        # m/s^2
    max_yaw_accel: float = 6.0    # rad/s^2 (diff drive)
    wheelbase: float = 0.0        # m (ackermann)
    max_steer: float = 0.0        # rad (ackermann)
    max_steer_rate: float = 0.0   # rad/s (ackermann)

    def validate(self) -> None:
        require(self.length > 0 and self.width > 0, "vehicle footprint must be positive")
        require(self.max_speed > 0, "max_speed must be positive")
        require(self.max_accel > 0, "max_accel must be positive")
        if self.kind == "ackermann":
            require(self.wheelbase > 0 and 0 < self.max_steer < math.pi / 2,
                    "ackermann vehicle needs wheelbase > 0 and 0 < max_steer < pi/2")
        else:
            require(self.max_yaw_rate > 0, "max_yaw_rate must be positive")

    @property
    def max_curvature(self) -> float:
        return math.tan(self.max_steer) / self.wheelbase if self.kind == "ackermann" else math.inf

    def yaw_rate_limit(self, v: float) -> float:
        """Largest |w| reachable at speed v."""
        if self.kind == "ackermann":
            return abs(v) * self.max_curvature
        return self.max_yaw_rate

    def steer_for(self, v: float, w: float) -> float:
        """Steering angle giving yaw rate w at speed v (bicycle model), clipped to max_steer."""
        if abs(v) < 1e-6:
            return 0.0
        return float(np.clip(math.atan(w * self.wheelbase / v), -self.max_steer, self.max_steer))


# Jackal-like differential-drive robot (BARN's platform), up to 2 m/s.
JACKAL = VehicleSpec(kind="diff", length=0.51, width=0.43, max_speed=2.0, max_yaw_rate=2.0,
                     max_accel=2.0, max_yaw_accel=6.0)
# A small car (bicycle kinematics) for the Drive scenarios.
CAR = VehicleSpec(kind="ackermann", length=4.4, width=1.8, max_speed=8.0, max_accel=3.0,
                  wheelbase=2.7, max_steer=0.55, max_steer_rate=0.8, max_yaw_rate=2.0)

VEHICLES = {"jackal": JACKAL, "car": CAR}

# Primitive grid: SPEED_FRACTIONS x TURN_FRACTIONS, then three specials.
SPEED_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
TURN_FRACTIONS = (-1.0, -0.6, -0.3, -0.1, 0.0, 0.1, 0.3, 0.6, 1.0)
STOP = len(SPEED_FRACTIONS) * len(TURN_FRACTIONS)   # index 36: controlled stop
SPIN_LEFT = STOP + 1                                 # rotate in place (diff) / creep full left (car)
SPIN_RIGHT = STOP + 2
NUM_PRIMITIVES = STOP + 3


def primitive_table(vehicle: VehicleSpec) -> np.ndarray:
    """(NUM_PRIMITIVES, 2) array of (v, w) commands for `vehicle`, in a fixed index order.

    Diff drive: w = turn * max_yaw_rate. Ackermann: turns are fractions of the maximum curvature,
    w = v * turn * max_curvature, so every primitive is kinematically feasible.
    """
    table = np.zeros((NUM_PRIMITIVES, 2), dtype=np.float32)
    i = 0
    for s in SPEED_FRACTIONS:
        v = s * vehicle.max_speed
        for t in TURN_FRACTIONS:
            if vehicle.kind == "ackermann":
                w = v * t * vehicle.max_curvature
            else:
                w = t * vehicle.max_yaw_rate
            table[i] = (v, w)
            i += 1
    table[STOP] = (0.0, 0.0)
    if vehicle.kind == "ackermann":
        creep = 0.1 * vehicle.max_speed
        table[SPIN_LEFT] = (creep, creep * vehicle.max_curvature)
        table[SPIN_RIGHT] = (creep, -creep * vehicle.max_curvature)
    else:
        table[SPIN_LEFT] = (0.0, 0.5 * vehicle.max_yaw_rate)
        table[SPIN_RIGHT] = (0.0, -0.5 * vehicle.max_yaw_rate)
    return table


def rollout(v0: float, w0: float, v, w, vehicle: VehicleSpec,
            horizon: float = 2.0, dt: float = 0.2) -> np.ndarray:
    """Poses (N, 3) = (x, y, yaw) in the robot frame over `horizon` seconds when commanding (v, w)
    from current twist (v0, w0), respecting acceleration limits. N = horizon / dt (>= 5 waypoints).
    The first row is the pose after dt (the robot's current pose, the origin, is not included).

    `v` and `w` may also be arrays of shape (P,) (e.g. a whole primitive table): the result is then
    (P, N, 3), computed in one vectorised pass (the verifier sweeps all primitives every cycle).
    Speed and yaw rate approach their targets at the acceleration limits, so they have closed forms.
    """
    n = int(round(horizon / dt))
    scalar = np.ndim(v) == 0 and np.ndim(w) == 0
    v = np.atleast_1d(np.asarray(v, dtype=np.float64))[:, None]
    w = np.atleast_1d(np.asarray(w, dtype=np.float64))[:, None]
    steps = np.arange(1, n + 1, dtype=np.float64)[None, :]
    dv = vehicle.max_accel * dt * steps
    cv = float(v0) + np.clip(v - float(v0), -dv, dv)                     # (P, N)
    if vehicle.kind == "ackermann":
        lim = np.abs(cv) * vehicle.max_curvature
        moving = np.abs(v) >= 1e-6
        cw = np.clip(np.where(moving, w * cv / np.where(moving, v, 1.0), w), -lim, lim)
    else:
        dw = vehicle.max_yaw_accel * dt * steps
        cw = float(w0) + np.clip(w - float(w0), -dw, dw)
    yaw = np.cumsum(cw * dt, axis=1)
    yaw_mid = yaw - 0.5 * cw * dt
    poses = np.stack([np.cumsum(cv * np.cos(yaw_mid) * dt, axis=1),
                      np.cumsum(cv * np.sin(yaw_mid) * dt, axis=1), yaw], axis=-1)
    return poses[0] if scalar else poses


def to_odom(poses_robot: np.ndarray, x: float, y: float, yaw: float) -> np.ndarray:
    """Transform robot-frame poses (N, 3) into the odom frame given the robot pose (x, y, yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = np.empty_like(poses_robot)
    out[:, 0] = x + c * poses_robot[:, 0] - s * poses_robot[:, 1]
    out[:, 1] = y + s * poses_robot[:, 0] + c * poses_robot[:, 1]
    out[:, 2] = poses_robot[:, 2] + yaw
    return out
