"""`planner/Nav-v0`: a Jackal-like differential-drive robot among static and moving box obstacles,
driving to a goal, in PyBullet (DIRECT).

Observation: Dict(lidar = Box(0, 1, (S,)), state = Box(-1, 1, (STATE_DIM,))), built ONLY by
`planner.sensing.summarize` on a simulated LaserScan-like `Scan` (angle_min / angle_increment /
range_min / range_max; beams, field of view, range and noise set by `LidarConfig`), odometry pose and
twist, the goal and the previous command, then `planner.sensing.ModelInput` (with
sensing.motion_lookahead > 0, off by default: moving obstacles drawn ahead from the robot's own recent
scans), exactly as `planner.runtime` feeds the model on a robot.
Every `SensorSummary.state` field is bounded in [-1, 1].

Action: Discrete(NUM_PRIMITIVES), an index into `planner.vehicles.primitive_table(vehicle)`; the
command is held for one control period (default 20 Hz) and the robot's twist follows it under the
vehicle's acceleration limits (kinematic integration, body moved in PyBullet).
`env.unwrapped.step_command(v, w)` does the same step for an arbitrary (v, w) command (clipped to the
vehicle's limits) and returns the same 5-tuple.

info always holds "summary" (the SensorSummary behind the observation, before ModelInput), "level" and "world_seed";
at episode end also "outcome" in {"success", "collision", "timeout", "out_of_road"} and "metrics"
(see sim/metrics.py). Success and collision terminate; the time limit truncates (outcome "timeout").

`env.unwrapped.expert_action()` is the privileged expert's primitive for the current state (sim/expert.py).

kwargs: level (0..NUM_LEVELS-1), split ("train" | "val" | "test": which seed range worlds are drawn
from), world (a fixed `sim.worlds.World`, e.g. from a ROS map), lidar (LidarConfig or dict), sensing
(SensingConfig or dict), reward (RewardConfig or dict), max_episode_steps (default: 10 s + 3x the
reference path time), control_hz, goal_tolerance, render_mode ("rgb_array"), expert_mover_margin (m the
expert keeps from movers; default sim.expert.MOVER_MARGIN; training may label with a more cautious one).
reset(options=) accepts {"level": int, "world_seed": int, "world": World}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from planner.config import from_dict, read_yaml, require
from planner.errors import ConfigError, SensorError
from planner.sensing import STATE_DIM, Pose2D, SensingConfig, SensorSummary, Twist2D, carrot_on_path, ModelInput, summarize
from planner.vehicles import NUM_PRIMITIVES, VEHICLES, VehicleSpec, primitive_table
from sim.core import LidarConfig, Scene, footprint_extent, make_scan, render_topdown
from sim.metrics import EpisodeRecorder
from sim.worlds import SPLITS, World, check_level, check_seed, generate


@dataclass(frozen=True)
class RewardConfig:
    """Reward weights (per step unless stated). The training engineer tunes these."""
    success: float = 10.0        # once, on reaching the goal
    collision: float = -10.0     # once, on a collision (or leaving the map)
    progress: float = 1.0        # per metre of progress along the cost-to-go to the goal
    time: float = -0.01          # per step
    path_length: float = -0.05   # per metre driven
    jerk: float = -0.02          # per unit of command change |dv|/v_max + |dw|/w_max (smoothness)
    timeout: float = 0.0         # once, when the time limit truncates the episode

    def validate(self) -> None:
        for k, v in self.__dict__.items():
            require(math.isfinite(v), f"reward.{k} must be finite")


def _cfg(cls: type, value: Any, name: str):
    if value is None:
        return cls()
    if isinstance(value, cls):
        value.validate()
        return value
    if isinstance(value, dict):
        return from_dict(cls, value, prefix=f"{name}.")
    raise ConfigError(f"{name}: expected {cls.__name__} or a dict, got {type(value).__name__}")


# What the planner is told about where to go: "path" = a global path (the static map's shortest safe
# path, replanned from the robot every step, as Nav2's planner server gives its controllers) whose
# lookahead point is the model's goal; "goal" = only the goal pose (no global planner).
GUIDANCE = ("path", "goal")


class NavEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, level: int = 0, split: str | None = "train", world: World | None = None,
                 lidar: LidarConfig | dict | None = None, sensing: SensingConfig | dict | None = None,
                 reward: RewardConfig | dict | None = None, max_episode_steps: int | None = None,
                 control_hz: float = 20.0, goal_tolerance: float = 0.5, vehicle: str | VehicleSpec = "jackal",
                 render_mode: str | None = None, guidance: str = "path", expert_mover_margin: float | None = None):
        self.level = check_level(level)
        if expert_mover_margin is not None and not 0.0 <= float(expert_mover_margin) <= 2.0:
            raise ConfigError(f"expert_mover_margin must be in [0, 2] m, got {expert_mover_margin!r}")
        self.expert_mover_margin = expert_mover_margin
        if guidance not in GUIDANCE:
            raise ConfigError(f"guidance must be one of {', '.join(GUIDANCE)}, got {guidance!r}")
        self.guidance = guidance
        if split is not None and split not in SPLITS:
            raise ConfigError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        self.split = split
        if isinstance(vehicle, str):
            if vehicle not in VEHICLES:
                raise ConfigError(f"vehicle must be one of {sorted(VEHICLES)}, got {vehicle!r}")
            vehicle = VEHICLES[vehicle]
        self.vehicle: VehicleSpec = vehicle
        self.lidar_cfg: LidarConfig = _cfg(LidarConfig, lidar, "lidar")
        self.sensing: SensingConfig = _cfg(SensingConfig, sensing, "sensing")
        self.reward_cfg: RewardConfig = _cfg(RewardConfig, reward, "reward")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or int(max_episode_steps) < 1):
            raise ConfigError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps
        if not (1.0 <= control_hz <= 1000.0):
            raise ConfigError(f"control_hz must be in [1, 1000], got {control_hz}")
        self.dt = 1.0 / control_hz
        self.goal_tolerance = float(goal_tolerance)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.fixed_world = world
        if world is not None:
            world.validate()        # MapError: start/goal blocked, goal unreachable
        self.table = primitive_table(self.vehicle)
        self.action_space = gym.spaces.Discrete(NUM_PRIMITIVES)
        self.observation_space = gym.spaces.Dict({
            "lidar": gym.spaces.Box(0.0, 1.0, (self.sensing.num_sectors,), np.float32),
            "state": gym.spaces.Box(-1.0, 1.0, (STATE_DIM,), np.float32),
        })
        self.scene = Scene(self.vehicle, self.lidar_cfg)
        self._extent = footprint_extent(self.vehicle, self.lidar_cfg.angles)
        self._check_lidar_fits_sensing()
        self.model_input = ModelInput(draw_motion=self.sensing.motion_lookahead > 0)
        self.world: World | None = None
        self._expert = None
        self.summary: SensorSummary | None = None

    def _check_lidar_fits_sensing(self) -> None:
        from planner.sensing import Scan, check_scan_shape
        lc = self.lidar_cfg
        scan = Scan(np.full(lc.beams, lc.range_max, np.float32), -lc.fov / 2, lc.angle_increment,
                    lc.range_min, lc.range_max)
        try:
            check_scan_shape(scan, self.sensing)
        except SensorError as exc:
            raise ConfigError(f"lidar config does not fit the sensing config: {exc}") from None

    # ---- gymnasium API ----------------------------------------------------------------------------
    def set_level(self, level: int) -> None:
        """Curriculum hook: the next reset draws worlds of this level."""
        self.level = self._check_level(level)

    # The world family: Drive-v0 overrides these two with the road ladder.
    def _check_level(self, level: int) -> int:
        return check_level(level)

    def _generate_world(self, level: int, world_seed: int) -> World:
        return generate(level, world_seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "level" in options:
            self.level = self._check_level(options.pop("level"))
        world = options.pop("world", None) or self.fixed_world
        world_seed = options.pop("world_seed", None)
        if options:
            raise ConfigError(f"unknown reset option(s): {sorted(options)}")
        if world is None:
            if world_seed is None:
                rng = SPLITS[self.split or "train"]
                world_seed = int(self.np_random.integers(rng.start, rng.stop))
            world_seed = check_seed(world_seed, self.split)
            world = self._generate_world(self.level, world_seed)
        elif world is not self.fixed_world:
            world.validate()
        self.world = world
        self.scene.load(world)
        plan = world.planning()
        self._grid, self._ctg = plan.grid, plan.cost_to_go
        self._ref_len = plan.reference_length
        if self.max_episode_steps is not None:
            self._limit = int(self.max_episode_steps)
        else:
            self._limit = int(math.ceil((10.0 + 3.0 * self._ref_len / self.vehicle.max_speed) / self.dt))
        s = world.start
        self.x, self.y, self.yaw = s.x, s.y, s.yaw
        self.v = self.w = 0.0
        self.cmd = (0.0, 0.0)
        self.t = 0.0
        self.steps = 0
        self._expert = None
        self._potential = self._cost_to_go(self.x, self.y, None)
        self.recorder = EpisodeRecorder(self.dt, self.vehicle.max_speed, self._ref_len, (s.x, s.y))
        self.scene.set_robot(self.x, self.y, self.yaw)
        self.model_input.reset()
        obs, summary, _ = self._observe()
        return obs, {"summary": summary, "level": world.level, "world_seed": world.seed}

    def step(self, action):
        a = int(action)
        if not 0 <= a < NUM_PRIMITIVES:
            raise ValueError(f"action must be in [0, {NUM_PRIMITIVES}), got {action!r}")
        v, w = self.table[a]
        return self._advance(float(v), float(w))

    def step_command(self, v: float, w: float):
        """One control period commanding (v, w) (clipped to the vehicle's limits); same 5-tuple as step."""
        if not (math.isfinite(v) and math.isfinite(w)):
            raise ValueError(f"command must be finite, got ({v}, {w})")
        veh = self.vehicle
        v = float(np.clip(v, -veh.max_reverse, veh.max_speed))
        lim = veh.yaw_rate_limit(v) if veh.kind == "ackermann" else veh.max_yaw_rate
        return self._advance(v, float(np.clip(w, -lim, lim)))

    def expert_action(self) -> int:
        """The privileged expert's primitive for the current state (imitation / DAgger labels)."""
        if self._expert is None:
            from sim.expert import Expert
            margin = {} if self.expert_mover_margin is None else {"mover_margin": float(self.expert_mover_margin)}
            self._expert = Expert(self.world, self.vehicle, dt=self.dt, **margin)
        return self._expert.act(self.x, self.y, self.yaw, self.v, self.w, self.t)

    def true_motion(self, points: np.ndarray, lag: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Simulator truth, for diagnosis and benchmarks only (never the planner): of lidar hits (N, 2) in the
        robot frame, which lie within 5 cm of a mover's box (N,), and that mover's velocity `lag` s ago in
        the robot frame (N, 2; zero elsewhere)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        world = np.stack([self.x + c * pts[:, 0] - s * pts[:, 1], self.y + s * pts[:, 0] + c * pts[:, 1]], axis=1)
        velocity, on_mover = np.zeros((len(pts), 2)), np.zeros(len(pts), dtype=bool)
        for m in self.world.movers:
            centre = m.positions(self.t)
            vel = (m.positions(self.t - lag + 0.01) - m.positions(self.t - lag)) / 0.01
            cm, sm = math.cos(m.yaw), math.sin(m.yaw)
            rel = world - centre
            on = ((np.abs(cm * rel[:, 0] + sm * rel[:, 1]) <= m.half_x + 0.05)
                  & (np.abs(-sm * rel[:, 0] + cm * rel[:, 1]) <= m.half_y + 0.05))
            velocity[on] = (c * vel[0] + s * vel[1], -s * vel[0] + c * vel[1])
            on_mover |= on
        return velocity, on_mover

    def render(self):
        if self.render_mode != "rgb_array" or self.world is None:
            return None
        return render_topdown(self.world, Pose2D(self.x, self.y, self.yaw), self.vehicle, t=self.t,
                              trail=self.recorder.trail,
                              scan_points=self.summary.points if self.summary is not None else None)

    def close(self):
        self.scene.close()

    # ---- internals --------------------------------------------------------------------------------
    def _cost_to_go(self, x: float, y: float, fallback: float | None) -> float:
        g = self._grid
        r = math.floor((y - g.origin[1]) / g.resolution)
        c = math.floor((x - g.origin[0]) / g.resolution)
        h, w = self._ctg.shape
        val = float(self._ctg[r, c]) if 0 <= r < h and 0 <= c < w else math.inf
        if not math.isfinite(val):
            return fallback if fallback is not None else math.hypot(x - self.world.goal.x, y - self.world.goal.y)
        return val

    def _observe(self):
        raw = self.scene.ray_ranges(self.x, self.y, self.yaw)
        scan = make_scan(raw, self.lidar_cfg, self.np_random, self.t)
        pose = Pose2D(self.x, self.y, self.yaw)
        summary = summarize(scan, pose, Twist2D(self.v, self.w), self.local_goal(pose),
                            prev_cmd=Twist2D(*self.cmd), vehicle=self.vehicle, cfg=self.sensing)
        self.summary = summary
        clearance = float(np.min(raw - self._extent))
        lidar, _ = self.model_input(summary, track=False)
        return {"lidar": lidar, "state": summary.state}, summary, clearance

    def local_goal(self, pose: Pose2D) -> Pose2D:
        """The goal the planner is given: the world's goal, or the lookahead point of the global path."""
        if self.guidance == "goal":
            return self.world.goal
        path = self.world.planning().path_from(pose.x, pose.y, self.sensing.lookahead + 1.0)
        if path is None:
            return self.world.goal
        return carrot_on_path(path, pose, self.sensing.lookahead)

    def _advance(self, v_cmd: float, w_cmd: float):
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        veh, dt, rc = self.vehicle, self.dt, self.reward_cfg
        pv, pw = self.cmd
        dv = veh.max_accel * dt
        self.v += min(max(v_cmd - self.v, -dv), dv)
        if veh.kind == "ackermann":
            lim = veh.yaw_rate_limit(self.v)
            self.w = min(max(w_cmd if abs(v_cmd) < 1e-6 else w_cmd * self.v / v_cmd, -lim), lim)
        else:
            dw = veh.max_yaw_accel * dt
            self.w += min(max(w_cmd - self.w, -dw), dw)
        yaw_mid = self.yaw + 0.5 * self.w * dt
        x0, y0 = self.x, self.y
        self.x += self.v * math.cos(yaw_mid) * dt
        self.y += self.v * math.sin(yaw_mid) * dt
        self.yaw = (self.yaw + self.w * dt + math.pi) % (2 * math.pi) - math.pi
        self.t += dt
        self.steps += 1
        self.cmd = (v_cmd, w_cmd)
        self.scene.move_movers(self.t)
        self.scene.set_robot(self.x, self.y, self.yaw)
        collided = self.scene.in_collision()
        obs, summary, clearance = self._observe()
        self.recorder.add(self.x, self.y, self.v, self.w, clearance)

        x0b, y0b, x1b, y1b = self.world.bounds
        outside = not (x0b <= self.x <= x1b and y0b <= self.y <= y1b)
        potential = self._cost_to_go(self.x, self.y, self._potential)
        reward = (rc.progress * (self._potential - potential) + rc.time
                  + rc.path_length * math.hypot(self.x - x0, self.y - y0)
                  + rc.jerk * (abs(v_cmd - pv) / veh.max_speed + abs(w_cmd - pw) / max(veh.max_yaw_rate, 1e-6)))
        self._potential = potential
        outcome = None
        if collided:
            outcome, reward = "collision", reward + rc.collision
        elif outside:
            outcome, reward = "out_of_road", reward + rc.collision
        elif math.hypot(self.x - self.world.goal.x, self.y - self.world.goal.y) <= self.goal_tolerance:
            outcome, reward = "success", reward + rc.success
        elif self.steps >= self._limit:
            outcome, reward = "timeout", reward + rc.timeout
        info: dict[str, Any] = {"summary": summary, "level": self.world.level, "world_seed": self.world.seed}
        terminated = outcome in ("success", "collision", "out_of_road")
        truncated = outcome == "timeout"
        if outcome is not None:
            info["outcome"] = outcome
            info["metrics"] = dict(self.recorder.finish(outcome), level=self.world.level, seed=self.world.seed)
        return obs, float(reward), terminated, truncated, info


def env_kwargs_from_yaml(path: str = "config/sim.yaml", section: str = "nav") -> dict:
    """Validated NavEnv keyword arguments from a YAML section (see config/sim.yaml)."""
    from pathlib import Path

    p = Path(path)
    data = read_yaml(p) or {}
    if not isinstance(data, dict) or not isinstance(data.get(section), dict):
        raise ConfigError(f"{p}: missing section '{section}'")
    kw = dict(data[section])
    allowed = {"level", "split", "control_hz", "goal_tolerance", "max_episode_steps", "lidar", "sensing", "reward",
               "guidance"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}")
    kw["level"] = check_level(kw.get("level", 0))
    for key, cls in (("lidar", LidarConfig), ("sensing", SensingConfig), ("reward", RewardConfig)):
        if key in kw:
            kw[key] = from_dict(cls, kw[key], prefix=f"{section}.{key}.")
    return kw
