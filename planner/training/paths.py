"""Path-head targets: the robot-frame path of the expert's primitive, from the sample's own speed."""
from __future__ import annotations

import numpy as np

from planner.sensing import STATE_FIELDS
from planner.vehicles import CAR, JACKAL, primitive_table, rollout

_V, _W, _ACK = (STATE_FIELDS.index(k) for k in ("v", "w", "is_ackermann"))
_TABLES = {"diff": primitive_table(JACKAL), "ackermann": primitive_table(CAR)}


def primitive_paths(labels: np.ndarray, state: np.ndarray, n_points: int, horizon: float,
                    dt: float) -> np.ndarray:
    """(B, n_points, 2) x, y of rollout(label's (v, w)) in the robot frame, resampled to n_points."""
    labels = np.asarray(labels)
    state = np.asarray(state)
    n_roll = int(round(horizon / dt))
    out = np.empty((len(labels), n_roll, 2), dtype=np.float32)
    for i, (a, s) in enumerate(zip(labels, state)):
        vehicle = CAR if s[_ACK] > 0.5 else JACKAL
        v, w = _TABLES[vehicle.kind][int(a)]
        out[i] = rollout(s[_V] * vehicle.max_speed, s[_W] * vehicle.max_yaw_rate, float(v), float(w),
                         vehicle, horizon=horizon, dt=dt)[:, :2]
    if n_roll != n_points:
        src = np.linspace(0.0, 1.0, n_roll)
        dst = np.linspace(0.0, 1.0, n_points)
        out = np.stack([np.stack([np.interp(dst, src, p[:, k]) for k in range(2)], -1) for p in out])
    return out.astype(np.float32)
