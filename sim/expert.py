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
from sim.worlds import World, _segment_distance

HORIZON = 2.0          # s of look-ahead
ROLLOUT_DT = 0.1       # s between checked poses
COMMIT = 0.3           # s a primitive is held before the safety check assumes braking
STATIC_MARGIN = 0.03   # m kept from static obstacles (on top of the conservative grid clearance)
POINT_MARGIN = 0.05    # m, perimeter-point clearance for the exact-footprint check (when wedged)
MOVER_MARGIN = 0.15    # m kept from movers (their motion is known, but keep a buffer); Expert(mover_margin=)
                       # sets it per expert: training labels may come from a more cautious one
HEADING_COST = 1.0     # per unit of (1 - cos(heading error)) w.r.t. the cost-to-go descent direction
TIME_COST = 0.5        # per second taken to reach a rollout pose
CHANGE_COST = 0.05     # per unit of normalised command change (smoothness)
ROOM = 0.15            # m of free space around the footprint circles below which ROOM_COST applies
ROOM_COST = 1.0        # at zero room (linear in between)
STALL_COST = 1.0       # added to STOP, so the expert never parks while something else is safe
LANE_COST = 2.0        # for standing still / spinning inside a mover's lane (it will come back)
CARROT_CELLS = 6       # grid cells ahead along the shortest path that set the desired heading


class Expert:
    def __init__(self, world: World, vehicle: VehicleSpec, dt: float = 0.05, mover_margin: float = MOVER_MARGIN):
        if not 0.0 <= mover_margin <= 2.0:
            raise ValueError(f"expert mover_margin must be in [0, 2] m, got {mover_margin!r}")
        self.world, self.vehicle, self.dt = world, vehicle, dt
        self.mover_margin = float(mover_margin)
        self.plan = world.planning()
        self.table = primitive_table(vehicle).astype(np.float64)
        # Footprint covered by two circles on the long axis.
        hx, hy = vehicle.length / 2, vehicle.width / 2
        self.circle_x = np.array([-hx / 2, hx / 2])
        self.circle_r = math.hypot(hx / 2, hy)
        corners = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy], [hx, hy]])
        pts = []
        for a, b in zip(corners[:-1], corners[1:]):
            n = max(1, int(math.ceil(np.hypot(*(b - a)) / (2 * POINT_MARGIN))))
            pts += [a + (b - a) * k / n for k in range(n)]
        self.perimeter = np.array(pts)
        self.steps = int(round(HORIZON / ROLLOUT_DT))
        self.times = ROLLOUT_DT * np.arange(1, self.steps + 1)
        ctg = self.plan.cost_to_go
        finite = np.isfinite(ctg)
        self.ctg_cap = float(ctg[finite].max()) + 10.0 if finite.any() else 1e6
        capped = np.where(finite, ctg, self.ctg_cap)
        # Where to head at each cell: towards the cell CARROT_CELLS further along the shortest path
        # (Dijkstra predecessors); off the path graph, down the cost-to-go gradient.
        gy, gx = np.gradient(capped)
        norm = np.hypot(gx, gy) + 1e-9
        dir_x, dir_y = -gx / norm, -gy / norm
        nxt = self.plan.next_cell
        if nxt is not None:
            h, w = capped.shape
            step = np.where(nxt >= 0, nxt, np.arange(h * w))
            ahead = step
            for _ in range(CARROT_CELLS - 1):
                ahead = step[ahead]
            r, c = np.divmod(np.arange(h * w), w)
            ar, ac = np.divmod(ahead, w)
            vx, vy = (ac - c).astype(np.float64), (ar - r).astype(np.float64)
            n = np.hypot(vx, vy)
            ok = (n > 0).reshape(h, w)
            dir_x = np.where(ok, (vx / np.maximum(n, 1e-9)).reshape(h, w), dir_x)
            dir_y = np.where(ok, (vy / np.maximum(n, 1e-9)).reshape(h, w), dir_y)
        self.dir_x, self.dir_y = dir_x, dir_y
        self.ctg = capped
        self.prev = STOP

    def _rollouts(self, x: float, y: float, yaw: float, v0: float, w0: float, brake: bool) -> np.ndarray:
        """(P, K, 3) poses of every primitive at ROLLOUT_DT .. HORIZON: the command held throughout,
        or (brake=True) held for COMMIT seconds and then braking to a stop at the acceleration limits."""
        veh, dt, t = self.vehicle, ROLLOUT_DT, self.times[None, :]
        vc, wc = self.table[:, 0:1], self.table[:, 1:2]

        def approach(x0, target, rate, tt):       # first-order rate-limited approach, closed form
            return x0 + np.clip(target - x0, -rate * tt, rate * tt)

        v = approach(v0, vc, veh.max_accel, t)
        if brake:
            v_c = approach(v0, vc, veh.max_accel, COMMIT)
            v = np.where(t <= COMMIT + 1e-9, v, approach(v_c, 0.0, veh.max_accel, t - COMMIT))
        if veh.kind == "ackermann":
            w = v * np.divide(wc, vc, out=np.zeros_like(wc), where=np.abs(vc) > 1e-6)
        else:
            w = approach(w0, wc, veh.max_yaw_accel, t)
            if brake:
                w_c = approach(w0, wc, veh.max_yaw_accel, COMMIT)
                w = np.where(t <= COMMIT + 1e-9, w, approach(w_c, 0.0, veh.max_yaw_accel, t - COMMIT))
        yaw_k = yaw + np.cumsum(w * dt, axis=1)
        mid = yaw_k - 0.5 * w * dt
        px = x + np.cumsum(v * np.cos(mid) * dt, axis=1)
        py = y + np.cumsum(v * np.sin(mid) * dt, axis=1)
        return np.stack([px, py, yaw_k], axis=-1)

    def _unsafe(self, poses: np.ndarray, t: float, static_margin: float | None = STATIC_MARGIN) -> np.ndarray:
        """(P, K) True where the footprint (two circles, or with static_margin=None its exact perimeter)
        comes too close to a static obstacle, or the circles to a mover's predicted position."""
        pl = self.plan
        c, s = np.cos(poses[..., 2]), np.sin(poses[..., 2])
        cx = poses[..., 0:1] + c[..., None] * self.circle_x               # (P, K, 2)
        cy = poses[..., 1:2] + s[..., None] * self.circle_x
        if static_margin is None:
            # Exact footprint: perimeter points every <= 2 * POINT_MARGIN, each kept POINT_MARGIN
            # clear, so no obstacle can poke in between two points (used only when wedged).
            px = poses[..., 0:1] + c[..., None] * self.perimeter[:, 0] - s[..., None] * self.perimeter[:, 1]
            py = poses[..., 1:2] + s[..., None] * self.perimeter[:, 0] + c[..., None] * self.perimeter[:, 1]
            unsafe = pl.lookup(pl.clearance, px, py, 0.0).min(axis=-1) < POINT_MARGIN
        else:
            unsafe = pl.lookup(pl.clearance, cx, cy, 0.0).min(axis=-1) < self.circle_r + static_margin
        for m in self.world.movers:
            mp = m.positions(t + self.times)                               # (K, 2)
            d = np.hypot(cx - mp[None, :, None, 0], cy - mp[None, :, None, 1]).min(axis=-1)
            unsafe |= d < self.circle_r + m.radius + self.mover_margin
        return unsafe

    def scores(self, x: float, y: float, yaw: float, v: float, w: float, t: float,
               static_margin: float | None = STATIC_MARGIN) -> tuple[np.ndarray, np.ndarray]:
        """(cost per primitive, inf = infeasible; steps each primitive's braking rollout stays safe)."""
        pl, K = self.plan, self.steps
        hold = self._rollouts(x, y, yaw, v, w, brake=False)
        brake = self._rollouts(x, y, yaw, v, w, brake=True)
        unsafe_hold = self._unsafe(hold, t, static_margin)
        unsafe_brake = self._unsafe(brake, t, static_margin)
        safe_brake = np.where(unsafe_brake.any(axis=1), unsafe_brake.argmax(axis=1), K)
        safe_hold = np.where(unsafe_hold.any(axis=1), unsafe_hold.argmax(axis=1), K)
        # Cost of the best pose along the safe part of the held rollout: cost-to-go + heading error +
        # time taken (so a spin that lines the robot up with the path beats standing still).
        hx, hy, hyaw = hold[..., 0], hold[..., 1], hold[..., 2]
        ctg = pl.lookup(self.ctg, hx, hy, self.ctg_cap)
        dx = pl.lookup(self.dir_x, hx, hy, 0.0)
        dy = pl.lookup(self.dir_y, hx, hy, 0.0)
        gx, gy = self.world.goal.x, self.world.goal.y
        goal_d = np.hypot(hx - gx, hy - gy)
        near = goal_d < 1.0                  # the grid is too coarse there: use the true geometry
        ctg = np.where(near, goal_d, ctg)
        dx = np.where(near, (gx - hx) / np.maximum(goal_d, 1e-6), dx)
        dy = np.where(near, (gy - hy) / np.maximum(goal_d, 1e-6), dy)
        herr = 1.0 - (np.cos(hyaw) * dx + np.sin(hyaw) * dy)
        per_pose = ctg + HEADING_COST * herr + TIME_COST * self.times[None, :]
        # Soft clearance: prefer poses with some room (straight, centred approaches to gaps).
        c, s = np.cos(hyaw), np.sin(hyaw)
        room = pl.lookup(pl.clearance, hx[..., None] + c[..., None] * self.circle_x,
                         hy[..., None] + s[..., None] * self.circle_x, 0.0).min(axis=-1) - self.circle_r
        per_pose = per_pose + ROOM_COST * np.clip((ROOM - room) / ROOM, 0.0, 1.0)
        per_pose = np.where(goal_d < 0.3, -1000.0 + self.times[None, :], per_pose)
        k_idx = np.arange(K)[None, :]
        per_pose = np.where(k_idx < np.maximum(safe_hold, 1)[:, None], per_pose, np.inf)
        cost = per_pose.min(axis=1)
        prev_v, prev_w = self.table[self.prev]
        change = (np.abs(self.table[:, 0] - prev_v) / self.vehicle.max_speed
                  + np.abs(self.table[:, 1] - prev_w) / max(self.vehicle.max_yaw_rate, 1e-6))
        cost = cost + CHANGE_COST * change
        # Standing still gains nothing: it must be the only safe option (a mover passing) to be chosen.
        cost[STOP] += STALL_COST
        for m in self.world.movers:          # do not wait inside a mover's lane
            if _segment_distance(x, y, m.a, m.b) < self.circle_r + m.radius + 0.3:
                cost = cost + LANE_COST * (self.table[:, 0] == 0.0)
        self._last_cost = cost
        cost = np.where(safe_brake < K, np.inf, cost)
        return cost, np.maximum(safe_brake, safe_hold)

    def act(self, x: float, y: float, yaw: float, v: float, w: float, t: float) -> int:
        cost, safe_steps = self.scores(x, y, yaw, v, w, t)
        moving = np.arange(NUM_PRIMITIVES) != STOP
        if not np.isfinite(cost[moving]).any():
            # Nothing but standing still passes the two-circle check: wedged in a tight spot, or
            # waiting for a mover. The circles bulge beyond the footprint (12 cm at the nose), so
            # look again with the exact perimeter before parking.
            exact_cost, exact_safe = self.scores(x, y, yaw, v, w, t, None)
            if np.isfinite(exact_cost[moving]).any() or not np.isfinite(cost).any():
                cost, safe_steps = exact_cost, exact_safe
        if np.isfinite(cost).any():
            a = int(np.argmin(cost))
        else:
            # Nothing is safe for the whole horizon (a mover closing in): stay safe for as long as
            # possible (holding or braking); among those, the cheapest.
            longest = safe_steps.max()
            cand = np.flatnonzero(safe_steps == longest)
            a = int(cand[np.argmin(self._last_cost[cand])])
        self.prev = a
        return a


def expert_policy_name() -> str:
    return f"expert (A*-style cost-to-go + {NUM_PRIMITIVES} primitive rollouts, {HORIZON:.1f} s horizon)"
