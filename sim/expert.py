"""The privileged expert: it sees the whole world (static map and the movers' future motion).

Once per episode (cached on the World): a clearance map and a clearance-weighted geodesic cost-to-go
to the goal (Dijkstra on the grid, sim/worlds.py). Every step: roll out each motion primitive for
HORIZON seconds from the current twist (acceleration limits included), reject those whose footprint
(covered by two circles) comes too close to a static obstacle or to a mover's predicted position, and
pick the feasible primitive whose end pose has the lowest cost-to-go (looking a little ahead along the
end heading, so it prefers ending pointed down the path). If nothing is feasible it picks the
primitive that stays collision-free longest. About 0.2-0.4 ms per call.
"""
from __future__ import annotations

import math

import numpy as np

from planner.vehicles import NUM_PRIMITIVES, STOP, VehicleSpec, primitive_table
from sim.worlds import World

HORIZON = 2.0          # s of look-ahead
ROLLOUT_DT = 0.1       # s between checked poses
STATIC_MARGIN = 0.03   # m kept from static obstacles (on top of the conservative grid clearance)
MOVER_MARGIN = 0.15    # m kept from movers (their motion is known, but keep a buffer)
LOOK_AHEAD = 0.6       # m along the end heading at which cost-to-go is also sampled
CHANGE_COST = 0.05     # per unit of normalised command change (smoothness)


class Expert:
    def __init__(self, world: World, vehicle: VehicleSpec, dt: float = 0.05):
        self.world, self.vehicle, self.dt = world, vehicle, dt
        self.plan = world.planning()
        self.table = primitive_table(vehicle).astype(np.float64)
        # Footprint covered by two circles on the long axis.
        hx, hy = vehicle.length / 2, vehicle.width / 2
        self.circle_x = np.array([-hx / 2, hx / 2])
        self.circle_r = math.hypot(hx / 2, hy)
        self.steps = int(round(HORIZON / ROLLOUT_DT))
        ctg = self.plan.cost_to_go
        finite = np.isfinite(ctg)
        self.ctg_cap = float(ctg[finite].max()) + 10.0 if finite.any() else 1e6
        self.prev = STOP
        self.last_feasible: np.ndarray | None = None

    def _rollouts(self, x: float, y: float, yaw: float, v0: float, w0: float) -> np.ndarray:
        """(P, K, 3) poses of every primitive at ROLLOUT_DT .. HORIZON."""
        veh, dt = self.vehicle, ROLLOUT_DT
        tk = dt * np.arange(1, self.steps + 1)[None, :]
        vc, wc = self.table[:, 0:1], self.table[:, 1:2]
        v = v0 + np.clip(vc - v0, -veh.max_accel * tk, veh.max_accel * tk)
        if veh.kind == "ackermann":
            curv = np.divide(wc, vc, out=np.zeros_like(wc), where=np.abs(vc) > 1e-6)
            w = v * curv
        else:
            w = w0 + np.clip(wc - w0, -veh.max_yaw_accel * tk, veh.max_yaw_accel * tk)
        yaw_k = yaw + np.cumsum(w * dt, axis=1)
        yaw_mid = yaw_k - 0.5 * w * dt
        px = x + np.cumsum(v * np.cos(yaw_mid) * dt, axis=1)
        py = y + np.cumsum(v * np.sin(yaw_mid) * dt, axis=1)
        return np.stack([px, py, yaw_k], axis=-1)

    def scores(self, x: float, y: float, yaw: float, v: float, w: float, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(cost per primitive (inf = infeasible), first unsafe step per primitive (K = never))."""
        pl, K = self.plan, self.steps
        poses = self._rollouts(x, y, yaw, v, w)                          # (P, K, 3)
        c, s = np.cos(poses[..., 2]), np.sin(poses[..., 2])
        cx = poses[..., 0:1] + c[..., None] * self.circle_x               # (P, K, 2)
        cy = poses[..., 1:2] + s[..., None] * self.circle_x
        clear = pl.lookup(pl.clearance, cx, cy, 0.0).min(axis=-1)         # (P, K)
        unsafe = clear < self.circle_r + STATIC_MARGIN
        if self.world.movers:
            times = t + ROLLOUT_DT * np.arange(1, K + 1)
            for m in self.world.movers:
                mp = m.positions(times)                                    # (K, 2)
                d = np.hypot(cx - mp[None, :, None, 0], cy - mp[None, :, None, 1]).min(axis=-1)
                unsafe |= d < self.circle_r + m.radius + MOVER_MARGIN
        first_unsafe = np.where(unsafe.any(axis=1), unsafe.argmax(axis=1), K)
        gx, gy = self.world.goal.x, self.world.goal.y
        goal_d = np.hypot(poses[..., 0] - gx, poses[..., 1] - gy)         # (P, K)
        reach = goal_d < 0.3
        end = poses[:, -1]
        ctg_end = pl.lookup(pl.cost_to_go, end[:, 0], end[:, 1], np.inf)
        ax, ay = end[:, 0] + LOOK_AHEAD * np.cos(end[:, 2]), end[:, 1] + LOOK_AHEAD * np.sin(end[:, 2])
        ctg_ahead = pl.lookup(pl.cost_to_go, ax, ay, np.inf)
        ctg_end = np.where(np.isfinite(ctg_end), ctg_end, self.ctg_cap)
        ctg_ahead = np.where(np.isfinite(ctg_ahead), ctg_ahead, ctg_end + 2 * LOOK_AHEAD)
        # Near the goal the grid is too coarse: use the true distance.
        near = goal_d[:, -1] < 1.5
        ctg_end = np.where(near, goal_d[:, -1], ctg_end)
        ctg_ahead = np.where(near, goal_d[:, -1], ctg_ahead)
        cost = ctg_end + 0.3 * (ctg_ahead - ctg_end)
        prev_v, prev_w = self.table[self.prev]
        change = (np.abs(self.table[:, 0] - prev_v) / self.vehicle.max_speed
                  + np.abs(self.table[:, 1] - prev_w) / max(self.vehicle.max_yaw_rate, 1e-6))
        cost = cost + CHANGE_COST * change
        # Reaching the goal inside the horizon (before anything unsafe) beats everything, sooner is better.
        reach_k = np.where(reach.any(axis=1), reach.argmax(axis=1), K + 1)
        reached = reach_k < first_unsafe
        cost = np.where(reached, -1000.0 + reach_k, cost)
        cost = np.where((first_unsafe < K) & ~reached, np.inf, cost)
        return cost, first_unsafe

    def act(self, x: float, y: float, yaw: float, v: float, w: float, t: float) -> int:
        cost, first_unsafe = self.scores(x, y, yaw, v, w, t)
        if np.isfinite(cost).any():
            a = int(np.argmin(cost))
        else:
            # Nothing is safe for the whole horizon: stay safe for as long as possible, then prefer
            # slow primitives (smaller stopping distance).
            longest = first_unsafe.max()
            cand = np.flatnonzero(first_unsafe == longest)
            a = int(cand[np.argmin(self.table[cand, 0])])
        self.prev = a
        return a


def expert_policy_name() -> str:
    return f"expert (A*-style cost-to-go + {NUM_PRIMITIVES} primitive rollouts, {HORIZON:.1f} s horizon)"
