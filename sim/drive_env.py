"""`planner/Drive-v0`: a car (planner.vehicles.CAR: bicycle kinematics with steering-angle, steering-rate and
acceleration limits) on a two-lane road with parked cars, slower traffic to pass and crossing
pedestrians (sim/roads.py), in PyBullet (DIRECT).

It is `planner/Nav-v0` with a different vehicle, world and outcome rules, so it reuses NavEnv whole:
the same observation (Dict(lidar, state) built only by `planner.sensing.summarize`), the same action
(Discrete(NUM_PRIMITIVES) of the CAR's primitive table; `step_command(v, w)` for continuous commands),
the same info ("summary", "level", "world_seed"; at the end "outcome" and "metrics") and the same
reward terms. Differences:
- the lidar reaches 30 m (256 beams over 270 degrees) and the sensing range is 30 m;
- the steering angle moves at most CAR.max_steer_rate (NavEnv limits acceleration and steering angle);
- outcomes: success (the car's centre crosses the destination line x = destination_x; the goal point
  in the observation lies GOAL_BEYOND further on), collision (crash:
  PyBullet contact with a parked car, traffic, a pedestrian or a rail), out_of_road (any footprint
  corner off the paved road), timeout;
- levels 0..4 are the road ladder (sim/roads.py);
- `expert_action()` is the privileged DriveExpert below.
"""
from __future__ import annotations

import math

import numpy as np

from planner.errors import ConfigError
from planner.sensing import SensingConfig, vehicle_sensing
from planner.vehicles import CAR, SPEED_FRACTIONS, STOP, TURN_FRACTIONS, VehicleSpec
from sim.core import LidarConfig
from sim.metrics import EpisodeRecorder
from sim.nav_env import NavEnv
from sim.roads import (RoadWorld, check_road_level, generate_road, off_road,
                       road_time_limit)

DRIVE_LIDAR = LidarConfig(beams=256, fov=1.5 * math.pi, range_min=0.1, range_max=30.0, noise_std=0.02)
DRIVE_SENSING = vehicle_sensing("car")   # the car's sensing, shared with the runtime (planner.sensing)


def _drive_sensing(sensing: SensingConfig | dict | None) -> SensingConfig | dict:
    """A dict of sensing overrides applies to the car's sensing (not to Nav's 8 m defaults)."""
    if isinstance(sensing, dict):
        from dataclasses import asdict
        return {**asdict(DRIVE_SENSING), **sensing}
    return sensing or DRIVE_SENSING


class DriveEnv(NavEnv):
    metadata = NavEnv.metadata

    def __init__(self, level: int = 0, split: str | None = "train", world: RoadWorld | None = None,
                 lidar: LidarConfig | dict | None = None, sensing: SensingConfig | dict | None = None,
                 reward=None, max_episode_steps: int | None = None, control_hz: float = 20.0,
                 render_mode: str | None = None, guidance: str = "path"):
        level = check_road_level(level)
        if world is not None and not isinstance(world, RoadWorld):
            raise ConfigError("Drive-v0 needs a RoadWorld (sim.roads.generate_road)")
        super().__init__(level=0, split=split, world=world, lidar=lidar or DRIVE_LIDAR,
                         sensing=_drive_sensing(sensing), reward=reward, max_episode_steps=max_episode_steps,
                         control_hz=control_hz, goal_tolerance=1.0, vehicle=CAR, render_mode=render_mode,
                         guidance=guidance)
        self.level = level

    def _check_level(self, level: int) -> int:
        return check_road_level(level)

    def _generate_world(self, level: int, world_seed: int) -> RoadWorld:
        world = generate_road(level, world_seed)
        world.validate()   # road worlds are checked before they are driven, as they always were
        return world

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        world = self.world
        length = world.destination_x - world.start.x
        if self.max_episode_steps is None:
            self._limit = int(math.ceil(road_time_limit(length) / self.dt))
        # Metrics (SPL, BARN opt_time) measure the drive to the destination line, not to the goal point.
        self._ref_len = min(self._ref_len, length)
        self.recorder = EpisodeRecorder(self.dt, self.vehicle.max_speed, self._ref_len, (world.start.x, world.start.y))
        self.steer = 0.0
        return obs, info

    def _advance(self, v_cmd: float, w_cmd: float):
        # Steering-rate limit (the bicycle model's front wheel turns at most max_steer_rate): turn the
        # commanded yaw rate into a steering angle, move the wheel towards it, and hand NavEnv the yaw
        # rate that angle gives at the speed NavEnv will reach this step (its acceleration limit).
        veh = self.vehicle
        v_next = self.v + min(max(v_cmd - self.v, -veh.max_accel * self.dt), veh.max_accel * self.dt)
        target = self.steer if abs(v_cmd) < 1e-6 else veh.steer_for(v_cmd, w_cmd)
        step = veh.max_steer_rate * self.dt
        self.steer += min(max(target - self.steer, -step), step)
        curvature = math.tan(self.steer) / veh.wheelbase
        w_cmd = (v_cmd if abs(v_cmd) >= 1e-6 else v_next) * curvature
        obs, reward, terminated, truncated, info = super()._advance(v_cmd, w_cmd)
        outcome = info.get("outcome")
        if outcome in (None, "timeout", "success"):
            # Road rules come first: off the paved road beats arriving; crossing the line is arriving.
            veh = self.vehicle
            new = outcome
            if off_road(self.world, self.x, self.y, self.yaw, veh.length / 2, veh.width / 2):
                new = "out_of_road"
            elif self.x >= self.world.destination_x:
                new = "success"
            if new != outcome:
                rc = self.reward_cfg
                reward -= {"timeout": rc.timeout, "success": rc.success, None: 0.0}[outcome]
                reward += rc.collision if new == "out_of_road" else rc.success
                info["outcome"] = new
                info["metrics"] = dict(self.recorder.finish(new), level=self.world.level, seed=self.world.seed)
                terminated, truncated = True, False
        return obs, reward, terminated, truncated, info

    def expert_action(self) -> int:
        if self._expert is None:
            self._expert = DriveExpert(self.world, self.vehicle)
        return self._expert.act(self.x, self.y, self.yaw, self.v, self.t)

    def render(self):
        if self.render_mode != "rgb_array" or self.world is None:
            return None
        from planner.sensing import Pose2D
        from sim.core import render_topdown
        return render_topdown(self.world, Pose2D(self.x, self.y, self.yaw), self.vehicle, t=self.t,
                              trail=self.recorder.trail, px_per_m=6.0,
                              scan_points=self.summary.points if self.summary is not None else None)


# ---- the privileged expert ------------------------------------------------------------------------
HORIZON = 4.0            # s of look-ahead
STEP = 0.2               # s between predicted states
MARGIN_X = 1.2           # m kept ahead/behind other road users (on top of the car's half length)
MARGIN_Y = 0.45          # m kept beside them (lane-change heading and tracking error included)
LOOKAHEAD = (8.0, 1.5)   # lateral error is closed over max(8 m, 1.5 s of travel)
MAX_HEADING = 0.2        # rad, steepest approach to the target lane (lane changes take ~16 m+)
HEADING_TAU = 0.4        # s to close a heading error
PASSING_LANE_COST = 3.0  # m of progress a step in the passing lane is worth giving up
SWITCH_COST = 4.0        # m of progress to switch the target lane (no dithering)


class DriveExpert:
    """Knows the road, every parked car and every mover's future motion. Each step it predicts, for
    each (target lane, target speed) pair, the car's motion over HORIZON (speed under the acceleration
    limit, lateral offset decaying over distance like the pure-pursuit tracker) and rejects those that
    come within the margins of an obstacle (at its predicted position) or cannot stop before one at
    the end; it keeps the safe pair with the most progress (preferring lane 0 and its current target
    lane), then tracks it: speed -> nearest primitive speed (or STOP), pure pursuit -> nearest turn."""

    def __init__(self, world: RoadWorld, vehicle: VehicleSpec = CAR):
        self.world, self.vehicle = world, vehicle
        self.lanes = [world.lane_y(k) for k in range(world.lanes)]
        self.speeds = np.array([0.0] + [f * vehicle.max_speed for f in SPEED_FRACTIONS])
        self.times = STEP * np.arange(1, int(round(HORIZON / STEP)) + 1)
        self.target_lane = 0
        statics = [b for b in world.obstacles if abs(b.y) < world.road_half_width + 1.0]
        self.static = np.array([[b.x, b.y, *_aabb_half(b.half_x, b.half_y, b.yaw)] for b in statics]).reshape(-1, 4)

    def _obstacles_at(self, t: np.ndarray) -> np.ndarray:
        """(T, K, 4) AABBs (x, y, hx, hy) of all obstacles at times t."""
        boxes = [np.broadcast_to(self.static, (t.size,) + self.static.shape)]
        for m in self.world.movers:
            hx, hy = _aabb_half(m.half_x, m.half_y, m.yaw)
            pos = m.positions(t)
            boxes.append(np.concatenate([pos, np.full((t.size, 2), (hx, hy))], axis=1)[:, None, :])
        return np.concatenate(boxes, axis=1)

    def plan(self, x: float, y: float, v: float, t: float) -> tuple[int, float]:
        """(target lane, target speed) for the current state."""
        veh = self.vehicle
        lanes = np.arange(len(self.lanes))
        lane_grid, speed_grid = np.meshgrid(lanes, self.speeds, indexing="ij")
        lane_c, speed_c = lane_grid.ravel(), speed_grid.ravel()                       # (C,)
        tt = self.times
        # Speed profiles under the acceleration limit, positions by trapezoidal integration.
        dv = veh.max_accel * tt
        vel = v + np.clip(speed_c[:, None] - v, -dv, dv)                              # (C, T)
        prev = np.concatenate([np.full((vel.shape[0], 1), v), vel[:, :-1]], axis=1)
        dist = np.cumsum(0.5 * (prev + vel) * STEP, axis=1)
        xs = x + dist
        lane_y = np.asarray(self.lanes)[lane_c][:, None]
        ys = lane_y + _lateral_offset(y - lane_y, dist, _lookahead(v))
        obs = self._obstacles_at(t + tt)                                              # (T, K, 4)
        hx, hy = veh.length / 2 + MARGIN_X, veh.width / 2 + MARGIN_Y
        ox, oy, ohx, ohy = (obs[..., i][None] for i in range(4))                      # (1, T, K)
        hit = ((np.abs(xs[..., None] - ox) < hx + ohx) & (np.abs(ys[..., None] - oy) < hy + ohy)).any(axis=2)
        # At the end of the horizon the car must still be able to stop before what is ahead.
        v_end = vel[:, -1]
        stop = v_end ** 2 / (2 * veh.max_accel)
        ex, ey = xs[:, -1] + stop / 2, ys[:, -1]
        end = obs[-1]
        hit_end = ((np.abs(ex[:, None] - end[None, :, 0]) < hx + stop[:, None] / 2 + end[None, :, 2])
                   & (np.abs(ey[:, None] - end[None, :, 1]) < hy + end[None, :, 3])).any(axis=1)
        first_hit = np.where(hit.any(axis=1), tt[np.argmax(hit, axis=1)], np.inf)
        safe = ~hit.any(axis=1) & ~hit_end
        progress = dist[:, -1] - PASSING_LANE_COST * lane_c - SWITCH_COST * (lane_c != self.target_lane)
        if safe.any():
            best = int(np.argmax(np.where(safe, progress, -np.inf)))
        else:
            # Nothing is safe: put the first contact as late as possible, slowest first.
            best = int(np.lexsort((speed_c, -first_hit))[0])
        return int(lane_c[best]), float(speed_c[best])

    def act(self, x: float, y: float, yaw: float, v: float, t: float) -> int:
        lane, speed = self.plan(x, y, v, t)
        self.target_lane = lane
        if speed <= 0.0:
            return STOP
        veh = self.vehicle
        # Heading towards the lane (at most MAX_HEADING), then curvature to reach that heading.
        error = self.lanes[lane] - y
        heading = max(-MAX_HEADING, min(MAX_HEADING, math.atan2(error, _lookahead(v))))
        yaw_err = (heading - yaw + math.pi) % (2 * math.pi) - math.pi
        curvature = yaw_err / (HEADING_TAU * max(v, 1.0))
        turn = int(np.argmin(np.abs(np.asarray(TURN_FRACTIONS) - curvature / veh.max_curvature)))
        s = int(np.argmin(np.abs(np.asarray(SPEED_FRACTIONS) * veh.max_speed - speed)))
        return s * len(TURN_FRACTIONS) + turn


def _lookahead(v: float) -> float:
    return max(LOOKAHEAD[0], LOOKAHEAD[1] * v)


def _lateral_offset(e0: np.ndarray, dist: np.ndarray, lookahead: float) -> np.ndarray:
    """Lateral offset from the target lane after driving `dist` m, as the tracker closes it: at the
    MAX_HEADING slope while far, then exponentially over `lookahead`."""
    mag = np.abs(e0)
    e_s = np.minimum(mag, MAX_HEADING * lookahead)          # where the approach turns exponential
    d_s = (mag - e_s) / MAX_HEADING
    linear = mag - MAX_HEADING * dist
    expo = e_s * np.exp(-np.maximum(dist - d_s, 0.0) / lookahead)
    return np.sign(e0) * np.where(dist < d_s, linear, expo)


def _aabb_half(hx: float, hy: float, yaw: float) -> tuple[float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    return c * hx + s * hy, s * hx + c * hy


