"""What the planner returns for each sensor summary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# verified: the network's choice passed the footprint sweep; corrected: it collided and the best safe
# alternative was taken; fallback: nothing was safe (or the deadline passed, or the input was unusable)
# and the decision is a controlled stop; goal_reached: at the goal, stopped; unverified: the network's
# choice sent without the footprint sweep (only with RuntimeConfig.verify=false, for ablations).
Status = Literal["verified", "corrected", "fallback", "goal_reached", "unverified"]


@dataclass(frozen=True)
class Decision:
    v: float                     # commanded forward speed, m/s
    w: float                     # commanded yaw rate, rad/s
    path: np.ndarray             # (N, 3) local path (x, y, yaw) in the odom frame, N >= 5 over >= 1.5 s
    status: Status
    reason: str = ""             # why (for corrected / fallback): published on /diagnostics
    primitive: int = -1          # index into the vehicle's primitive table (-1: none)
    confidence: float = 0.0      # the model's confidence in its choice, [0, 1]
    latency_ms: float = 0.0      # time spent in decide()
    refine_steps: int = 0        # recursive refinement steps the model ran

    @property
    def is_stop(self) -> bool:
        return self.v == 0.0 and self.w == 0.0
