"""sim_node: the PyBullet simulator (planner/Nav-v0, planner/Drive-v0 or a ROS map) as a ROS 2 robot.

Each control period (1 / rate_hz simulated seconds, run `speed` times faster than the wall clock) it
steps the world with the latest command and publishes what a real robot would:
    clock (rosgraph_msgs/Clock), scan (sensor_msgs/LaserScan: the simulated lidar's real angle_min /
    angle_increment / range_max, sensor-data QoS), odom (nav_msgs/Odometry, odom -> base_link)
It follows cmd_vel (Twist, or TwistStamped with cmd_vel_stamped; no command for cmd_timeout_s brakes
the base, like a real one), publishes the static map's global path on global_plan (publish_plan; or the
scenario's goal on goal_pose), and reports
each episode's end on sim/outcome (std_msgs/String JSON, latched): {"outcome": "reached" | "collided"
| "timeout" | "out_of_road", "episode", "scenario", "level", "seed", "time", "path_length", ...}.
After the last episode the world keeps running (the robot still follows cmd_vel) without further reports.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry, Path
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

from planner.config import ConfigError, require
from planner.errors import PlannerError
from planner.sensing import Pose2D, Twist2D
from ros_nodes import convert

NODE_NAME = "sim_node"
OUTCOME_NAMES = {"success": "reached", "collision": "collided", "timeout": "timeout", "out_of_road": "out_of_road"}


@dataclass(frozen=True)
class SimNodeConfig:
    """sim_node's ROS parameters (documented in config/planner.yaml)."""
    scenario: str = "nav:0"              # nav[:level[:seed]] | drive[:level[:seed]] | map_server YAML path
    map_start: tuple[float, ...] = (0.0, 0.0, 0.0)   # map scenarios: start x, y, yaw
    map_goal: tuple[float, ...] = (1.0, 0.0)         # map scenarios: goal x, y
    rate_hz: float = 20.0                # control rate (simulated)
    lidar_beams: int = 271               # Nav/map lidar beams over 270 deg (1 deg); 0 = the env's default
    speed: float = 1.0                   # simulated seconds per wall second
    lockstep: bool = False               # wait for the command answering each scan (cmd_vel_stamped)
    lockstep_timeout_s: float = 0.5      # wall s to wait for that command before stepping anyway
    cmd_vel_stamped: bool = False        # command type followed
    cmd_timeout_s: float = 0.5           # simulated s without a command -> brake
    goal_tolerance: float = 0.55         # m; the episode is "reached" within this (Nav / map scenarios)
    publish_goal: bool = True            # tell the planner where to go (as publish_plan says)
    publish_plan: bool = True            # as a global plan on global_plan (the static map's shortest safe path,
                                         # replanned from the robot every plan_period_s, as in training);
                                         # false: the goal alone on goal_pose
    plan_period_s: float = 1.0           # simulated s between global plans
    wait_for_planner: bool = True        # hold the world still until something publishes on cmd_vel
    episodes: int = 1                    # episodes to run, 0 = forever; then the world runs on unreported
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    laser_frame: str = "base_link"

    def validate(self) -> None:
        parse_scenario(self.scenario)
        require(len(self.map_start) == 3, "map_start must be [x, y, yaw]")
        require(len(self.map_goal) == 2, "map_goal must be [x, y]")
        require(1.0 <= self.rate_hz <= 1000.0, "rate_hz must be in [1, 1000]")
        require(self.lidar_beams == 0 or 64 <= self.lidar_beams <= 4096, "lidar_beams must be 0 or in [64, 4096]")
        require(0.0 < self.speed <= 100.0, "speed must be in (0, 100]")
        require(self.lockstep_timeout_s > 0, "lockstep_timeout_s must be positive")
        require(not self.lockstep or self.cmd_vel_stamped, "lockstep needs cmd_vel_stamped: true")
        require(self.cmd_timeout_s > 0, "cmd_timeout_s must be positive")
        require(0.05 <= self.goal_tolerance <= 5.0, "goal_tolerance must be in [0.05, 5] m")
        require(self.episodes >= 0, "episodes must be >= 0")
        require(self.plan_period_s > 0, "plan_period_s must be positive")
        require(bool(self.odom_frame and self.base_frame and self.laser_frame), "frames must be set")


PARAMETER_NAMES = tuple(f.name for f in fields(SimNodeConfig))


def parse_scenario(text: str) -> dict[str, Any]:
    """'nav', 'nav:2', 'nav:2:2000000', 'drive:1' or a map YAML path -> {kind, level, seed, map}."""
    if text.endswith((".yaml", ".yml")):
        return {"kind": "map", "level": None, "seed": None, "map": text}
    parts = text.split(":")
    if parts[0] not in ("nav", "drive") or len(parts) > 3:
        raise ConfigError(f"scenario must be nav[:level[:seed]], drive[:level[:seed]] or a map .yaml, got {text!r}")
    try:
        level = int(parts[1]) if len(parts) > 1 else 0
        seed = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise ConfigError(f"scenario level and seed must be integers, got {text!r}") from None
    return {"kind": parts[0], "level": level, "seed": seed, "map": None}


def make_env(cfg: SimNodeConfig):
    """The Gymnasium environment for the scenario (ConfigError / MapError for bad ones)."""
    import gymnasium as gym
    import sim  # noqa: F401  (registers planner/Nav-v0 and planner/Drive-v0)
    sc = parse_scenario(cfg.scenario)
    kwargs: dict[str, Any] = {"control_hz": cfg.rate_hz}
    if sc["kind"] != "drive":   # Drive-v0 has its own long-range car lidar and arrival rule
        kwargs["goal_tolerance"] = cfg.goal_tolerance
        if cfg.lidar_beams:
            kwargs["lidar"] = {"beams": cfg.lidar_beams}
    if sc["kind"] == "map":
        from sim.maps import load_ros_map
        world = load_ros_map(sc["map"], Pose2D(*cfg.map_start), Pose2D(cfg.map_goal[0], cfg.map_goal[1]))
        env = gym.make("planner/Nav-v0", world=world, split=None, **kwargs)
    else:
        env_id = "planner/Nav-v0" if sc["kind"] == "nav" else "planner/Drive-v0"
        env = gym.make(env_id, level=sc["level"], split=None, **kwargs)
    return env.unwrapped, sc


class SimNode(Node):

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        convert.declare_config_parameters(self, SimNodeConfig())
        self.cfg = convert.read_config_parameters(self, SimNodeConfig)
        self.env, self.scenario = make_env(self.cfg)
        self.dt = self.env.dt
        self.lidar = self.env.lidar_cfg
        self.rng = np.random.default_rng(0 if self.scenario["seed"] is None else self.scenario["seed"])

        self.clock_pub = self.create_publisher(ClockMsg, "/clock", 10)
        self.scan_pub = self.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        self.odom_pub = self.create_publisher(Odometry, "odom", 10)
        self.goal_pub = self.create_publisher(PoseStamped, "goal_pose", 10)
        self.plan_pub = self.create_publisher(Path, "global_plan", 10)
        self._plan_at = -math.inf
        latched = QoSProfile(depth=10, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        self.outcome_pub = self.create_publisher(String, "sim/outcome", latched)
        cmd_type = TwistStamped if self.cfg.cmd_vel_stamped else Twist
        self.cmd_sub = self.create_subscription(cmd_type, "cmd_vel", self.on_cmd, 10)

        self.sim_time = 0.0
        self.episode = 0
        self.finished = False
        self.cmd = Twist2D()
        self.cmd_time = -math.inf
        self._awaiting: tuple[int, int] | None = None   # stamp of the scan whose command lockstep waits for
        self._waiting_since = 0.0
        self._goal_sent_to = 0
        self.start_episode()
        self.timer = self.create_timer(self.dt / self.cfg.speed, self.on_tick,
                                       clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"scenario {self.cfg.scenario}: {self.scenario['kind']} world, "
                               f"{self.lidar.beams}-beam lidar, {1 / self.dt:.0f} Hz, speed x{self.cfg.speed:g}")

    # --- episodes -------------------------------------------------------------------------------

    def start_episode(self) -> None:
        seed = self.scenario["seed"]
        options = {}
        if self.scenario["kind"] != "map":
            options["world_seed"] = (seed if seed is not None else 2_000_000) + self.episode
        self.env.reset(seed=int(self.rng.integers(2**31)), options=options)
        self.episode += 1
        self.episode_t0 = self.sim_time
        self.cmd, self.cmd_time, self._awaiting = Twist2D(), -math.inf, None
        self._goal_sent_to = 0
        self.publish_state()

    def end_episode(self, info: dict) -> None:
        metrics = dict(info.get("metrics", {}))
        doc = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
        doc.update(outcome=OUTCOME_NAMES.get(info["outcome"], info["outcome"]), episode=self.episode,
                   scenario=self.cfg.scenario, level=info.get("level"), seed=info.get("world_seed"),
                   goal=[self.env.world.goal.x, self.env.world.goal.y])
        doc = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in doc.items()}
        self.outcome_pub.publish(String(data=json.dumps(doc)))
        self.get_logger().info(f"episode {self.episode}: {doc['outcome']} after {doc.get('time', 0):.1f} s")
        if self.cfg.episodes and self.episode >= self.cfg.episodes:
            self.finished = True   # the world keeps running (a robot after its test), no more reports
        else:
            self.start_episode()

    # --- stepping -------------------------------------------------------------------------------

    def on_cmd(self, msg: Twist | TwistStamped) -> None:
        cmd = convert.command_from_msg(msg)
        if not (math.isfinite(cmd.v) and math.isfinite(cmd.w)):
            self.get_logger().warning(f"non-finite command ({cmd.v}, {cmd.w}) ignored", throttle_duration_sec=2.0)
            return
        self.cmd, self.cmd_time = cmd, self.sim_time
        if self._awaiting is not None and isinstance(msg, TwistStamped) and \
                (msg.header.stamp.sec, msg.header.stamp.nanosec) == self._awaiting:
            self._awaiting = None

    def on_tick(self) -> None:
        if self._awaiting is not None and time.monotonic() - self._waiting_since < self.cfg.lockstep_timeout_s:
            return   # lockstep: the planner has not answered the last scan yet
        if self.cfg.wait_for_planner and self.cmd_sub.get_publisher_count() == 0:
            self.publish_state()   # a live robot standing still; the episode clock does not run
            return
        self.sim_time += self.dt
        cmd = self.cmd if self.sim_time - self.cmd_time <= self.cfg.cmd_timeout_s + 1e-9 else Twist2D()
        try:
            _, _, terminated, truncated, info = self.env.step_command(cmd.v, cmd.w)
        except (ValueError, PlannerError) as exc:
            self.get_logger().error(f"step failed: {exc}; braking", throttle_duration_sec=2.0)
            _, _, terminated, truncated, info = self.env.step_command(0.0, 0.0)
        if (terminated or truncated) and not self.finished:
            self.end_episode(info)
        self.publish_state()

    def publish_state(self) -> None:
        env = self.env
        stamp = convert.sec_to_stamp(self.sim_time)
        self.clock_pub.publish(ClockMsg(clock=stamp))
        pose, twist = Pose2D(env.x, env.y, env.yaw), Twist2D(env.v, env.w)
        self.odom_pub.publish(convert.odom_msg(pose, twist, stamp, self.cfg.odom_frame, self.cfg.base_frame))
        # The simulated lidar as its driver would publish it (noise and dropout as configured).
        from sim.core import make_scan
        scan = make_scan(env.scene.ray_ranges(env.x, env.y, env.yaw), self.lidar, self.rng, self.sim_time)
        self.scan_pub.publish(convert.scan_msg(scan.ranges, scan.angle_min, scan.angle_increment, scan.range_min,
                                               scan.range_max, stamp, self.cfg.laser_frame, scan_time=self.dt))
        if self.cfg.lockstep:
            self._awaiting, self._waiting_since = (stamp.sec, stamp.nanosec), time.monotonic()
        self.publish_goal(stamp)

    def publish_goal(self, stamp) -> None:
        """The goal once per episode to each new subscriber (a volatile subscriber misses earlier
        samples), or the global plan every plan_period_s and to each new subscriber."""
        if not self.cfg.publish_goal or self.finished:
            return
        if self.cfg.publish_plan:
            n = self.plan_pub.get_subscription_count()
            if n > self._goal_sent_to or self.sim_time - self._plan_at >= self.cfg.plan_period_s:
                path = self.env.world.planning().path_from(self.env.x, self.env.y, math.inf)
                if path is not None:
                    poses = np.column_stack([path, np.zeros(len(path))])
                    self.plan_pub.publish(convert.path_msg(poses, stamp, self.cfg.odom_frame))
                    self._plan_at = self.sim_time
            self._goal_sent_to = n
            return
        n = self.goal_pub.get_subscription_count()
        if n > self._goal_sent_to:
            goal = self.env.world.goal
            self.goal_pub.publish(convert.goal_msg(Pose2D(goal.x, goal.y, 0.0), stamp, self.cfg.odom_frame))
            self.get_logger().info(f"goal ({goal.x:.2f}, {goal.y:.2f}) published")
        self._goal_sent_to = n


def main(args: list[str] | None = None) -> None:
    import sys
    convert.init_ros(args)
    try:
        node = SimNode()
    except PlannerError as exc:   # a bad scenario / map / parameter: one line, no traceback
        sys.stderr.write(f"sim_node: error: {exc}\n")
        rclpy.try_shutdown()
        sys.exit(2)
    try:
        convert.spin(node)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
