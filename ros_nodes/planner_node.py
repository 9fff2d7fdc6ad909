"""planner_node: the MiniReasoner local planner as a ROS 2 lifecycle node.

A thin adapter: LaserScan + Odometry + goal -> planner.sensing.summarize -> Planner.decide -> publish.
It decides on every scan, so the command follows the sensor within the planner's deadline; with
`cmd_vel_stamped` the TwistStamped carries the stamp of the scan that caused it (latency probes match
commands to scans on it).

Subscribes  scan (sensor_msgs/LaserScan, sensor-data QoS), odom (nav_msgs/Odometry),
            goal_pose (geometry_msgs/PoseStamped, frame must be one of `goal_frames`), or
            global_plan (nav_msgs/Path from a global planner, same frames): the model then steers to
            the plan's point `lookahead` m ahead (planner.sensing.carrot_on_path, as in training)
Publishes   cmd_vel (Twist, or TwistStamped with cmd_vel_stamped), plan (nav_msgs/Path, odom frame),
            ~/markers (visualization_msgs/MarkerArray), ~/goal_status (std_msgs/String JSON, latched),
            /diagnostics (diagnostic_msgs/DiagnosticArray, every diagnostics_period_s)
All topic names are relative: remap them with `--ros-args -r scan:=/front/scan`. Parameters are
documented in config/planner.yaml and validated by `NodeConfig` on configure.

Safety: nothing here raises out of a callback. Unusable input (a scan the model cannot read, NaN
odometry, no goal, stale scan or odometry) gives a zero command and says why on /diagnostics; every
command passes `safety_guard`, which stops motion toward an obstacle inside `safety_distance`
whatever the model said.
"""
from __future__ import annotations

import gc
import json
import math
import time
from collections import deque
from dataclasses import dataclass, fields
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry, Path
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray
from diagnostic_msgs.msg import DiagnosticArray

from planner.config import ConfigError, require
from planner.decision import Decision
from planner.errors import PlannerError, SensorError
from planner.report import latency_stats
from planner.sensing import Pose2D, Twist2D, carrot_on_path, summarize
from planner.vehicles import VEHICLES, VehicleSpec
from ros_nodes import convert

NODE_NAME = "planner_node"
DIAGNOSTIC_NAME = "planner: MiniReasoner local planner"


@dataclass(frozen=True)
class NodeConfig:
    """The node's ROS parameters (documented in config/planner.yaml), validated once on configure."""
    model_path: str = ""                 # model card (or its directory); "" = the shipped model
    backend: str = "onnx-int8"           # onnx-int8 | onnx-fp32 | torch | dwa (classical baseline, no model)
    vehicle: str = "jackal"              # jackal (diff drive) | car (Ackermann): kinematics and footprint
    deadline_ms: float = 10.0            # per-decision budget; late -> safe stop
    verify: bool = True                  # run the footprint verifier after the network
    goal_tolerance: float = 0.5          # m; closer than this to the goal = reached: stop and report
    cmd_vel_stamped: bool = False        # TwistStamped (Nav2 Jazzy+ `enable_stamped_cmd_vel`) or Twist
    odom_frame: str = "odom"             # frame of odometry and of the local plan
    base_frame: str = "base_link"        # frame of the commands (TwistStamped header)
    goal_frames: tuple[str, ...] = ("odom",)  # goals in other frames are rejected (no tf2 here)
    lookahead: float = 0.0               # m along a global_plan to the model's goal; 0 = what the model
                                         # was trained with for this vehicle (jackal 2.5 m, car 8 m)
    laser_x: float = 0.0                 # lidar mounting pose in base_frame (m, m, rad)
    laser_y: float = 0.0
    laser_yaw: float = 0.0
    control_period_s: float = 0.05       # watchdog period: stale input -> zero command within 2 periods
    scan_timeout_s: float = 0.5          # no scan for longer -> stop + ERROR diagnostic
    odom_timeout_s: float = 0.5          # no odometry for longer -> stop + ERROR diagnostic
    safety_distance: float = 0.15        # m ahead of the footprint in which no forward motion is allowed
    diagnostics_period_s: float = 1.0
    markers_period_s: float = 0.1        # RViz markers at most this often (0 = every decision)
    autostart: bool = True               # configure + activate at start (no lifecycle manager needed)

    def validate(self) -> None:
        require(self.backend in ("onnx-int8", "onnx-fp32", "torch", "dwa"),
                f"backend must be onnx-int8, onnx-fp32, torch or dwa (got {self.backend!r})")
        require(self.vehicle in VEHICLES, f"vehicle must be one of {sorted(VEHICLES)} (got {self.vehicle!r})")
        require(0 < self.deadline_ms <= 1000, "deadline_ms must be in (0, 1000]")
        require(0 <= self.goal_tolerance <= 10, "goal_tolerance must be in [0, 10] m")
        require(0 <= self.lookahead <= 100, "lookahead must be in [0, 100] m (0 = the model's)")
        require(len(self.goal_frames) > 0 and all(self.goal_frames), "goal_frames must list at least one frame")
        require(self.odom_frame != "" and self.base_frame != "", "odom_frame and base_frame must be set")
        require(0.001 <= self.control_period_s <= 1.0, "control_period_s must be in [0.001, 1]")
        require(self.scan_timeout_s > 0 and self.odom_timeout_s > 0, "scan/odom timeouts must be positive")
        require(0.0 <= self.safety_distance <= 5.0, "safety_distance must be in [0, 5] m")
        require(0.05 <= self.diagnostics_period_s <= 60, "diagnostics_period_s must be in [0.05, 60]")
        require(self.markers_period_s >= 0, "markers_period_s must be >= 0")


PARAMETER_NAMES = tuple(f.name for f in fields(NodeConfig))


def shipped_model() -> str:
    """The model card installed with the package (models/weights/mini.card.json)."""
    import models
    return str(FilePath(models.__file__).resolve().parent / "weights" / "mini.card.json")


class BaselinePlanner:
    """The classical lidar-only baseline (sim/dwa.py, a Dynamic Window Approach like Nav2's DWB) behind
    the runtime's interface, so the same node can drive with it (`backend: dwa`): for comparing
    against MiniReasoner on your robot, and for checking the ROS wiring without a trained model."""
    backend_name = "dwa"

    def __init__(self, cfg: NodeConfig):
        from planner.sensing import vehicle_sensing
        from planner.vehicles import VEHICLES
        from sim.dwa import DWAPlanner
        self.vehicle = VEHICLES[cfg.vehicle]
        self.sensing_config = vehicle_sensing(cfg.vehicle)   # as the simulator's Nav / Drive give DWA
        self.goal_tolerance = cfg.goal_tolerance
        self.dwa = DWAPlanner()
        self.dwa.setup(self.vehicle)

    def reset(self) -> None:
        self.dwa.setup(self.vehicle)

    def decide(self, summary, started_at: float | None = None) -> Decision:
        """As Planner.decide; DWA has no deadline logic, started_at only sets where latency_ms counts from."""
        from planner.vehicles import rollout, to_odom
        t0 = time.perf_counter() if started_at is None else started_at
        if summary.goal_distance <= self.goal_tolerance:
            v, w, status, reason = 0.0, 0.0, "goal_reached", f"within {self.goal_tolerance} m of the goal"
        else:
            v, w = self.dwa.act(None, summary)
            stopped = self.dwa.last_status.startswith("stop")
            status, reason = ("fallback", self.dwa.last_status) if stopped else ("verified", "")
        poses = rollout(summary.twist.v, summary.twist.w, v, w, self.vehicle, 2.0, 0.2)
        path = to_odom(poses, summary.pose.x, summary.pose.y, summary.pose.yaw)
        return Decision(v, w, path, status, reason, latency_ms=(time.perf_counter() - t0) * 1e3)


def load_planner(cfg: NodeConfig):
    """The runtime (imported here so a bad install is reported as a model load problem, not a crash)."""
    if cfg.backend == "dwa":
        return BaselinePlanner(cfg)
    from planner.runtime import Planner, RuntimeConfig
    return Planner(RuntimeConfig(model_path=cfg.model_path or shipped_model(), backend=cfg.backend,
                                 vehicle=cfg.vehicle, deadline_ms=cfg.deadline_ms, verify=cfg.verify,
                                 goal_tolerance=cfg.goal_tolerance))


def safety_guard(v: float, w: float, points: np.ndarray, vehicle: VehicleSpec,
                 safety_distance: float) -> tuple[float, float, str]:
    """Last line of defence, independent of the model: no translation toward a lidar hit within
    `safety_distance` of the footprint's leading edge (inside the footprint's width plus half the
    distance), and no rotation in place with a hit inside the footprint's swept circle.
    `points` are hits (M, 2) in the robot frame. Returns (v, w, reason or "")."""
    if points.size == 0 or (v == 0.0 and w == 0.0):
        return v, w, ""
    x, y = points[:, 0], points[:, 1]
    half_l, half_w = vehicle.length / 2, vehicle.width / 2
    side = np.abs(y) <= half_w + 0.5 * safety_distance
    if v > 0 and np.any(side & (x >= 0) & (x <= half_l + safety_distance)):
        return 0.0, 0.0, f"obstacle within {safety_distance:.2f} m ahead"
    if v < 0 and np.any(side & (x <= 0) & (x >= -half_l - safety_distance)):
        return 0.0, 0.0, f"obstacle within {safety_distance:.2f} m behind"
    if v == 0.0 and w != 0.0:
        if vehicle.kind == "ackermann":
            return 0.0, 0.0, "a car cannot turn in place"
        radius = math.hypot(half_l, half_w) + 0.02
        if np.any(x * x + y * y <= radius * radius):
            return 0.0, 0.0, "obstacle inside the turning circle"
    return v, w, ""


def stop_decision(reason: str, pose: Pose2D | None) -> Decision:
    path = np.zeros((0, 3)) if pose is None else np.tile([pose.x, pose.y, pose.yaw], (5, 1))
    return Decision(v=0.0, w=0.0, path=path, status="fallback", reason=reason)


class PlannerNode(LifecycleNode):

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        convert.declare_config_parameters(self, NodeConfig(), describe=_doc)
        self.cfg: NodeConfig | None = None
        self.planner = None
        self.active = False
        self.error = ""                     # why the node is not working (config / model), "" if fine
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = None
        self._watchdog = None
        self._subs: list = []
        self._pubs: list = []
        self._reset_state()
        self._diag_timer = self.create_timer(self._diag_period(), self.on_diagnostics_timer, clock=self._steady)

    # --- lifecycle ------------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.cfg = self.read_config()
        except ConfigError as exc:
            return self._fail(f"invalid parameter: {exc}")
        try:
            self.planner = load_planner(self.cfg)
        except PlannerError as exc:
            return self._fail(f"model failed to load: {exc}")
        except Exception as exc:  # a broken install must not take the node down either
            return self._fail(f"model failed to load ({type(exc).__name__}): {exc}")
        self.error = ""
        cmd_type = TwistStamped if self.cfg.cmd_vel_stamped else Twist
        self._cmd_pub = self.create_lifecycle_publisher(cmd_type, "cmd_vel", 10)
        self._plan_pub = self.create_lifecycle_publisher(Path, "plan", 10)
        self._marker_pub = self.create_lifecycle_publisher(MarkerArray, "~/markers", 10)
        latched = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        self._goal_status_pub = self.create_lifecycle_publisher(String, "~/goal_status", latched)
        self._pubs = [self._cmd_pub, self._plan_pub, self._marker_pub, self._goal_status_pub]
        self._subs = [
            self.create_subscription(LaserScan, "scan", self.on_scan, qos_profile_sensor_data),
            self.create_subscription(Odometry, "odom", self.on_odom, 10),
            self.create_subscription(PoseStamped, "goal_pose", self.on_goal, 10),
            self.create_subscription(Path, "global_plan", self.on_global_plan, 10),
        ]
        self._diag_timer.cancel()
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(self._diag_period(), self.on_diagnostics_timer, clock=self._steady)
        # One command message, refilled per scan (as echo_node does): publish() serialises it at once.
        self._cmd_msg = cmd_type()
        if self.cfg.cmd_vel_stamped:
            self._cmd_msg.header.frame_id = self.cfg.base_frame
        self.get_logger().info(
            f"configured: model {self.model_name()} backend {self.planner.backend_name}, "
            f"vehicle {self.cfg.vehicle}, "
            f"cmd_vel type {cmd_type.__name__}, goal frames {list(self.cfg.goal_frames)}")
        # The libraries and the model are ~180k long-lived objects: a full collection over them takes ~100 ms
        # (measured here), a stalled decision whenever Python runs one. Freeze them out of the cyclic GC's
        # reach; the objects decisions create are still collected as before.
        gc.collect()
        gc.freeze()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._reset_state()
        self.active = True
        self._watchdog = self.create_timer(self.cfg.control_period_s, self.on_watchdog, clock=self._steady)
        self.get_logger().info("active: waiting for scan, odometry and a goal")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._publish_command(0.0, 0.0, self._now_stamp())  # stop before the publishers go quiet
        self.active = False
        if self._watchdog is not None:
            self.destroy_timer(self._watchdog)
            self._watchdog = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for sub in self._subs:
            self.destroy_subscription(sub)
        for pub in self._pubs:
            self.destroy_lifecycle_publisher(pub)
        self._subs, self._pubs, self.planner = [], [], None
        gc.unfreeze()   # the old model may be collected; configure freezes the new one
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.active:
            self._publish_command(0.0, 0.0, self._now_stamp())
        self.active = False
        return TransitionCallbackReturn.SUCCESS

    def read_config(self) -> NodeConfig:
        return convert.read_config_parameters(self, NodeConfig)

    def _fail(self, message: str) -> TransitionCallbackReturn:
        self.error = message
        self.get_logger().error(message)
        self.publish_diagnostics()
        return TransitionCallbackReturn.FAILURE

    # --- inputs ---------------------------------------------------------------------------------

    def on_scan(self, msg: LaserScan) -> None:
        """Decide on every scan and publish the command first (stamped with the scan's stamp)."""
        if not self.active:
            return
        t0 = time.perf_counter()
        now = time.monotonic()
        if self._scan_rx is not None and 0.0 < now - self._scan_rx < 1.0:   # typical scan period (EMA)
            dt = now - self._scan_rx
            self._scan_period = dt if self._scan_period is None else 0.9 * self._scan_period + 0.1 * dt
        self._scan_rx = now
        try:
            decision = self._decide(msg, t0)
        except Exception as exc:  # never crash: a bug or an unexpected input stops the robot
            self._problem(f"decision failed ({type(exc).__name__}): {exc}")
            decision = stop_decision("internal error", self._pose)
        self._publish_command(decision.v, decision.w, msg.header.stamp)
        handler_ms = (time.perf_counter() - t0) * 1e3
        self._latency_ms.append(handler_ms)
        self._latency_total_ms.append(handler_ms)
        if handler_ms > self.cfg.deadline_ms:
            self.deadline_misses += 1
        self.last_decision = decision
        try:
            self._publish_plan(decision, msg.header.stamp)
        except Exception as exc:  # a bad path must not stop the next decision
            self._problem(f"could not publish the plan ({type(exc).__name__}): {exc}")
        if self._diagnostics_due:          # deferred by the timer to this idle moment (on_diagnostics_timer)
            self._diagnostics_due = False
            self.publish_diagnostics()

    def _decide(self, msg: LaserScan, started_at: float) -> Decision:
        if self._goal is None:
            self.state = "idle (no goal)"
            return stop_decision("no goal", self._pose)
        if self._goal_reached:
            self.state = "goal reached"
            return stop_decision("goal reached", self._pose)
        if self._pose is None or self._odom_stale():
            self.state = "waiting for odometry"
            return stop_decision("no odometry", self._pose)
        try:
            summary = summarize(convert.scan_from_msg(msg), self._pose, self._twist, self._local_goal(),
                                prev_cmd=self.last_command, vehicle=self.planner.vehicle,
                                cfg=self.planner.sensing_config, laser_pose=self._laser_pose)
        except SensorError as exc:
            self._problem(f"scan rejected: {exc}")
            self.state = "scan rejected"
            return stop_decision(f"scan rejected: {exc}", self._pose)
        if summary.problems:
            self._problem("scan: " + "; ".join(summary.problems), count=True)
        unusable = summary.lidar_unusable(self.planner.sensing_config.min_valid_fraction)
        if unusable:
            self.state = "scan unusable"
            return stop_decision(unusable, self._pose)
        # The deadline counts from the callback's entry: conversion and summarising spend it too.
        t_decide = time.perf_counter()
        decision = self.planner.decide(summary, started_at=started_at)
        decide_ms = (time.perf_counter() - t_decide) * 1e3   # Planner.decide alone (latency_ms counts from started_at)
        self.decisions += 1
        if decision.status == "fallback":
            self.fallbacks += 1
        elif decision.status == "corrected":
            self.corrected += 1
        v, w, why = safety_guard(decision.v, decision.w, summary.points, self.planner.vehicle,
                                 self.cfg.safety_distance)
        if why:
            self.guard_stops += 1
            self.get_logger().warning(f"safety guard: {why}; stopping", throttle_duration_sec=2.0)
            decision = Decision(v=v, w=w, path=decision.path, status="fallback", reason=f"safety guard: {why}",
                                primitive=decision.primitive, confidence=decision.confidence,
                                latency_ms=decision.latency_ms, refine_steps=decision.refine_steps)
        self._decide_ms.append(decide_ms)
        self._decide_total_ms.append(decide_ms)
        if decision.status == "goal_reached":
            self._goal_reached = True
            self.state = "goal reached"
            self.get_logger().info(f"goal reached at ({self._pose.x:.2f}, {self._pose.y:.2f}); stopped")
            self._publish_goal_status("reached")
            return Decision(v=0.0, w=0.0, path=decision.path, status="goal_reached", reason="goal reached")
        self.state = "driving"
        return decision

    def on_odom(self, msg: Odometry) -> None:
        if not self.active:
            return
        try:
            frame = msg.header.frame_id.lstrip("/")
            if frame and frame != self.cfg.odom_frame:
                self._problem(f"odometry in frame '{frame}', expected '{self.cfg.odom_frame}'; ignored")
                return
            pose, twist = convert.odom_from_msg(msg)
            values = (pose.x, pose.y, pose.yaw, twist.v, twist.w)
            if not all(math.isfinite(v) for v in values):
                self._problem(f"odometry not finite {tuple(round(v, 3) for v in values)}; ignored")
                return
        except Exception as exc:
            self._problem(f"odometry unusable ({type(exc).__name__}): {exc}")
            return
        self._pose, self._twist, self._odom_rx = pose, twist, time.monotonic()

    def on_goal(self, msg: PoseStamped) -> None:
        """A new goal replaces the old one (and any global plan). A goal we cannot use clears the old one
        too (stop, say why)."""
        try:
            goal, error = convert.goal_from_msg(msg), ""
        except Exception as exc:
            goal, error = None, f"({type(exc).__name__}): {exc}"
        self._set_goal(msg.header.frame_id, "goal", goal, None, error)

    def on_global_plan(self, msg: Path) -> None:
        """A global plan replaces the goal: its last pose is the goal, its lookahead point the model's."""
        try:
            path = convert.path_xy_from_msg(msg)
            goal, error = (Pose2D(float(path[-1, 0]), float(path[-1, 1])), "") if len(path) else \
                (None, "(empty): the plan has no poses")
        except Exception as exc:
            path, goal, error = None, None, f"({type(exc).__name__}): {exc}"
        self._set_goal(msg.header.frame_id, "global plan", goal, path, error)

    def _set_goal(self, frame_id: str, what: str, goal: Pose2D | None, path: np.ndarray | None,
                  error: str) -> None:
        """Take a goal (path None) or a global plan ending at `goal`, or reject it (`error`: why it could
        not be read, "(Type): message"), stop and say why."""
        if not self.active:
            self.get_logger().warning(f"{what} ignored: the node is not active", throttle_duration_sec=2.0)
            return
        frame = frame_id.lstrip("/")
        if error:
            reason = f"{what} unusable {error}"
        elif frame not in self.cfg.goal_frames:
            reason = (f"{what} in frame '{frame}' rejected: accepted frames {list(self.cfg.goal_frames)} "
                      f"(send it in the odom frame, or add a frame that coincides with it to goal_frames)")
        elif not np.isfinite([goal.x, goal.y]).all() or (path is not None and not np.isfinite(path).all()):
            reason = f"{what} position not finite rejected"
        else:
            reason = ""
        if reason:
            self._problem(reason)
            self._goal, self._path, self._goal_reached = None, None, False
            self._publish_goal_status("rejected", reason)
            return
        # A replanned path to the same goal keeps the episode going; anything else starts a new one.
        replanned = path is not None and self._path is not None and \
            math.hypot(goal.x - self._goal.x, goal.y - self._goal.y) <= 1e-3
        self._goal = Pose2D(goal.x, goal.y, goal.yaw if math.isfinite(goal.yaw) else 0.0)
        self._path = path
        if not replanned:
            self._goal_reached = False
            self.planner.reset()
            self.get_logger().info(f"new {what}: goal ({goal.x:.2f}, {goal.y:.2f}) in '{frame}'")
            self._publish_goal_status("active")

    def _local_goal(self) -> Pose2D:
        """The goal the model steers to: the global plan's lookahead point, or the goal pose."""
        if self._path is None:
            return self._goal
        lookahead = self.cfg.lookahead or self.planner.sensing_config.lookahead
        return carrot_on_path(self._path, self._pose, lookahead)

    # --- safety watchdog ------------------------------------------------------------------------

    def on_watchdog(self) -> None:
        """Runs every control period on the steady clock (it keeps running when /clock stops)."""
        stale = self._stale_inputs()
        if stale:
            if not self.stale:
                self.get_logger().error(f"no {' or '.join(stale)} for more than the timeout: stopping")
            self.stale = stale
            self.state = f"stale input: {', '.join(stale)}"
            self._publish_command(0.0, 0.0, self._now_stamp())
        elif self.stale:
            self.get_logger().info("inputs are back: resuming")
            self.stale = []

    def _stale_inputs(self) -> list[str]:
        now = time.monotonic()
        out = []
        if now - (self._scan_rx or self._activated_at) > self.cfg.scan_timeout_s:
            out.append("scan")
        if self._odom_stale(now):
            out.append("odometry")
        return out

    def _odom_stale(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - (self._odom_rx or self._activated_at) > self.cfg.odom_timeout_s

    # --- outputs --------------------------------------------------------------------------------

    def _publish_command(self, v: float, w: float, stamp) -> None:
        if self.cfg is None or not self._pubs:
            return
        msg = self._cmd_msg
        twist = msg.twist if self.cfg.cmd_vel_stamped else msg
        if self.cfg.cmd_vel_stamped:
            msg.header.stamp = stamp
        twist.linear.x, twist.angular.z = float(v), float(w)
        self._cmd_pub.publish(msg)
        self.last_command = Twist2D(v, w)

    def _publish_plan(self, decision: Decision, stamp) -> None:
        if decision.path.size:
            self._plan_msg = convert.fill_path_msg(self._plan_msg, decision.path, stamp, self.cfg.odom_frame)
            self._plan_pub.publish(self._plan_msg)
        now = time.monotonic()
        if now - self._markers_at >= self.cfg.markers_period_s:
            self._markers_at = now
            self._marker_pub.publish(convert.decision_markers(decision, self._goal, stamp, self.cfg.odom_frame))

    def _publish_goal_status(self, state: str, reason: str = "") -> None:
        goal = None if self._goal is None else {"x": self._goal.x, "y": self._goal.y}
        self._goal_status_pub.publish(String(data=json.dumps({"state": state, "goal": goal, "reason": reason})))

    def on_diagnostics_timer(self) -> None:
        """Publish /diagnostics every diagnostics_period_s. While scans are flowing this is deferred to just
        after the next scan's command: its statistics over the last 20,000 scans take ~1-2 ms here, and a
        scan arriving meanwhile would wait for them (the executor runs one callback at a time); right after
        a command the next scan is a whole scan period away. Without scans it publishes at once."""
        period = self._scan_period
        flowing = (self.active and period is not None and self._scan_rx is not None
                   and time.monotonic() - self._scan_rx < min(2.0 * period, self._diag_period()))
        if flowing and not self._diagnostics_due:
            self._diagnostics_due = True
            return
        self._diagnostics_due = False
        self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        level, message = self.health()
        new_problems = self.input_problems - self._problems_reported
        self._problems_reported = self.input_problems
        if level == "OK" and new_problems:
            level, message = "WARN", f"{new_problems} input problem(s), last: {self.last_problem}"
        lat = latency_stats(self._latency_ms)
        dec = latency_stats(self._decide_ms)
        total = latency_stats(self._latency_total_ms)
        dec_total = latency_stats(self._decide_total_ms)
        values = {
            "state": self.state if not self.error else "unconfigured",
            "model": self.model_name(),
            "backend": self.cfg.backend if self.cfg else "none",
            "goal": "none" if self._goal is None else f"({self._goal.x:.2f}, {self._goal.y:.2f})",
            "goal_reached": self._goal_reached,
            "scans_window": lat["count"],
            "latency_p50_ms": lat["p50"], "latency_p99_ms": lat["p99"], "latency_max_ms": lat["max"],
            "decide_p50_ms": dec["p50"], "decide_p99_ms": dec["p99"], "decide_max_ms": dec["max"],
            "scans_total": total["count"], "latency_p50_ms_total": total["p50"],
            "latency_p99_ms_total": total["p99"], "latency_max_ms_total": total["max"],
            "decide_p50_ms_total": dec_total["p50"], "decide_p99_ms_total": dec_total["p99"],
            "decide_max_ms_total": dec_total["max"],
            "deadline_ms": self.cfg.deadline_ms if self.cfg else float("nan"),
            "deadline_misses": self.deadline_misses, "decisions": self.decisions,
            "fallbacks": self.fallbacks, "corrected": self.corrected, "safety_guard_stops": self.guard_stops,
            "input_problems": self.input_problems, "last_problem": self.last_problem or "none",
            "stale_inputs": ",".join(self.stale) or "none",
        }
        self._latency_ms.clear()
        self._decide_ms.clear()
        self._diag_pub.publish(convert.diagnostics_msg(DIAGNOSTIC_NAME, self.get_name(), level, message,
                                                       values, self._now_stamp()))

    def model_name(self) -> str:
        if self.cfg is None:
            return "none"
        if self.cfg.backend == "dwa":
            return "none (dwa baseline)"
        return self.cfg.model_path or shipped_model()

    def health(self) -> tuple[str, str]:
        if self.error:
            return "ERROR", self.error
        if not self.active:
            return "WARN", "inactive"
        if self.stale:
            return "ERROR", f"no {' or '.join(self.stale)}: stopped"
        return "OK", self.state

    # --- helpers --------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.state = "waiting for scan"
        self._goal: Pose2D | None = None
        self._path: np.ndarray | None = None     # a global plan (N, 2) in the odom frame, if one was given
        self._goal_reached = False
        self._pose: Pose2D | None = None
        self._twist = Twist2D()
        self._scan_rx: float | None = None
        self._scan_period: float | None = None   # s, running average of the time between scans
        self._diagnostics_due = False            # the timer's publication waits for the next scan
        self._odom_rx: float | None = None
        self._activated_at = time.monotonic()
        self._markers_at = 0.0
        self._plan_msg: Path | None = None       # the plan message, refilled per scan (convert.fill_path_msg)
        self._latency_ms: deque[float] = deque(maxlen=5000)
        self._decide_ms: deque[float] = deque(maxlen=5000)
        self._latency_total_ms: deque[float] = deque(maxlen=20000)   # since activation (last 20k)
        self._decide_total_ms: deque[float] = deque(maxlen=20000)
        self.last_command = Twist2D()
        self.last_decision: Decision | None = None
        self.stale: list[str] = []
        self.decisions = self.fallbacks = self.corrected = self.guard_stops = 0
        self.deadline_misses = self.input_problems = self._problems_reported = 0
        self.last_problem = ""
        cfg = self.cfg or NodeConfig()
        self._laser_pose = Pose2D(cfg.laser_x, cfg.laser_y, cfg.laser_yaw)

    def _problem(self, message: str, count: bool = True) -> None:
        if count:
            self.input_problems += 1
        self.last_problem = message
        self.get_logger().warning(message, throttle_duration_sec=2.0)

    def _diag_period(self) -> float:
        return self.cfg.diagnostics_period_s if self.cfg else NodeConfig.diagnostics_period_s

    def _now_stamp(self):
        return self.get_clock().now().to_msg()


def _doc(name: str) -> str:
    """The parameter's documentation: its comment in NodeConfig (kept in one place)."""
    import inspect
    for line in inspect.getsource(NodeConfig).splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{name}:") and "#" in stripped:
            return stripped.split("#", 1)[1].strip()
    return name


def main(args: list[str] | None = None) -> None:
    convert.init_ros(args)
    node = PlannerNode()
    if node.get_parameter("autostart").value is True:
        if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()
    try:
        convert.spin(node)
    finally:
        if node.active:   # stop the robot on the way out (Ctrl-C, SIGTERM, respawn)
            try:
                node._publish_command(0.0, 0.0, node._now_stamp())
            except Exception:
                pass
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
