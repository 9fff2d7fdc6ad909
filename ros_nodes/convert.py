"""ROS message <-> plain Python types, in one place.

The nodes stay thin: they call these functions and `planner.sensing.summarize` / `Planner.decide`.
Nothing here depends on a node, so the conversions are tested without spinning anything.
Conventions: REP 103 (SI units, x forward, yaw CCW), REP 105 (the local plan lives in `odom`).
"""
from __future__ import annotations

import array
import math
import signal
from dataclasses import fields
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PoseStamped, Quaternion, Twist, TwistStamped
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import LaserScan
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from planner.decision import Decision
from planner.sensing import Pose2D, Scan, Twist2D

# DiagnosticStatus levels by name (the message stores them as bytes).
LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN, "ERROR": DiagnosticStatus.ERROR,
          "STALE": DiagnosticStatus.STALE}


# --- time -----------------------------------------------------------------------------------------

def stamp_to_sec(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def sec_to_stamp(t: float) -> Time:
    t = max(float(t), 0.0)
    sec = int(math.floor(t))
    nanosec = min(int(round((t - sec) * 1e9)), 999_999_999)
    return Time(sec=sec, nanosec=nanosec)


# --- orientation ----------------------------------------------------------------------------------

def yaw_from_quaternion(q: Quaternion) -> float:
    """Yaw (rotation about z) of a quaternion; NaN when the quaternion is not finite or is zero."""
    x, y, z, w = q.x, q.y, q.z, q.w
    norm = x * x + y * y + z * z + w * w
    if not math.isfinite(norm) or norm < 1e-12:
        return math.nan
    # This form needs no normalisation (both arguments scale with |q|^2).
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


def quaternion_from_yaw(yaw: float) -> Quaternion:
    if not math.isfinite(yaw):
        return Quaternion(x=0.0, y=0.0, z=math.nan, w=math.nan)
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


# --- inputs ---------------------------------------------------------------------------------------

def scan_from_msg(msg: LaserScan) -> Scan:
    """LaserScan -> planner.sensing.Scan. Ranges are copied (the message may be reused)."""
    r = msg.ranges
    if isinstance(r, array.array) and r.typecode == "f":   # what rclpy delivers: one buffer copy
        ranges = np.frombuffer(r, dtype=np.float32).copy()
    else:
        ranges = np.array(r, dtype=np.float32)
    return Scan(ranges=ranges, angle_min=float(msg.angle_min), angle_increment=float(msg.angle_increment),
                range_min=float(msg.range_min), range_max=float(msg.range_max),
                stamp=stamp_to_sec(msg.header.stamp), frame_id=msg.header.frame_id)


def odom_from_msg(msg: Odometry) -> tuple[Pose2D, Twist2D]:
    """Odometry -> (pose in the odometry frame, body twist: forward speed and yaw rate)."""
    p = msg.pose.pose
    pose = Pose2D(x=float(p.position.x), y=float(p.position.y), yaw=yaw_from_quaternion(p.orientation))
    t = msg.twist.twist
    return pose, Twist2D(v=float(t.linear.x), w=float(t.angular.z))


def goal_from_msg(msg: PoseStamped) -> Pose2D:
    p = msg.pose
    return Pose2D(x=float(p.position.x), y=float(p.position.y), yaw=yaw_from_quaternion(p.orientation))


def path_xy_from_msg(msg: Path) -> np.ndarray:
    """(N, 2) x, y of a nav_msgs/Path (a global plan); its frame is the caller's to check."""
    return np.array([(p.pose.position.x, p.pose.position.y) for p in msg.poses], dtype=np.float64).reshape(-1, 2)


# --- outputs --------------------------------------------------------------------------------------

def twist_msg(v: float, w: float) -> Twist:
    msg = Twist()
    msg.linear.x = float(v)
    msg.angular.z = float(w)
    return msg


def twist_stamped_msg(v: float, w: float, stamp: Time, frame_id: str) -> TwistStamped:
    """A stamped command. `stamp` is the stamp of the scan that caused it (latency probes match on it)."""
    msg = TwistStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.twist.linear.x = float(v)
    msg.twist.angular.z = float(w)
    return msg


def command_from_msg(msg: Twist | TwistStamped) -> Twist2D:
    twist = msg.twist if isinstance(msg, TwistStamped) else msg
    return Twist2D(v=float(twist.linear.x), w=float(twist.angular.z))


def path_msg(path: np.ndarray, stamp: Time, frame_id: str) -> Path:
    """(N, 3) poses (x, y, yaw) -> nav_msgs/Path."""
    msg = Path()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    for x, y, yaw in np.asarray(path, dtype=np.float64).reshape(-1, 3):
        ps = PoseStamped()
        ps.header = msg.header
        ps.pose.position.x, ps.pose.position.y = float(x), float(y)
        ps.pose.orientation = quaternion_from_yaw(float(yaw))
        msg.poses.append(ps)
    return msg


def fill_path_msg(msg: Path | None, path: np.ndarray, stamp: Time, frame_id: str) -> Path:
    """`path_msg`, refilling `msg` in place when it has as many poses in the same frame (a node publishing
    a plan per scan: a third of the cost of building one; publish() serialises it at once, so the
    message can be refilled for the next plan). Returns the message to publish (`msg`, or a new one)."""
    poses = np.asarray(path, dtype=np.float64).reshape(-1, 3)
    if msg is None or len(msg.poses) != len(poses) or msg.header.frame_id != frame_id:
        return path_msg(poses, stamp, frame_id)
    msg.header.stamp = stamp
    header = msg.header
    for ps, (x, y, yaw) in zip(msg.poses, poses.tolist()):
        ps.header = header
        pose = ps.pose
        pose.position.x, pose.position.y = x, y
        if math.isfinite(yaw):
            pose.orientation.z, pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
        else:
            pose.orientation.z = pose.orientation.w = math.nan
    return msg


_STATUS_COLOURS = {"verified": (0.1, 0.8, 0.1), "corrected": (1.0, 0.7, 0.0),
                   "fallback": (0.9, 0.1, 0.1), "goal_reached": (0.2, 0.4, 1.0)}


def decision_markers(decision: Decision, goal: Pose2D | None, stamp: Time, frame_id: str,
                     ns: str = "planner") -> MarkerArray:
    """RViz markers: the local path coloured by status, the goal, and a text with status/reason."""
    r, g, b = _STATUS_COLOURS.get(decision.status, (0.5, 0.5, 0.5))
    path = Marker()
    path.header.stamp, path.header.frame_id = stamp, frame_id
    path.ns, path.id, path.type, path.action = ns, 0, Marker.LINE_STRIP, Marker.ADD
    path.pose.orientation.w = 1.0
    path.scale.x = 0.05
    path.color = ColorRGBA(r=r, g=g, b=b, a=1.0)
    path.points = [Point(x=float(x), y=float(y), z=0.05)
                   for x, y, _ in np.asarray(decision.path, dtype=np.float64).reshape(-1, 3)]
    text = Marker()
    text.header = path.header
    text.ns, text.id, text.type, text.action = ns, 1, Marker.TEXT_VIEW_FACING, Marker.ADD
    if len(path.points):
        text.pose.position = Point(x=path.points[0].x, y=path.points[0].y, z=0.6)
    text.pose.orientation.w = 1.0
    text.scale.z = 0.2
    text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    text.text = f"{decision.status} v={decision.v:.2f} w={decision.w:.2f} {decision.reason}".strip()
    markers = MarkerArray(markers=[path, text])
    goal_marker = Marker()
    goal_marker.header = path.header
    goal_marker.ns, goal_marker.id, goal_marker.type = ns, 2, Marker.CYLINDER
    if goal is None:
        goal_marker.action = Marker.DELETE
    else:
        goal_marker.action = Marker.ADD
        goal_marker.pose.position = Point(x=goal.x, y=goal.y, z=0.05)
        goal_marker.pose.orientation.w = 1.0
        goal_marker.scale.x = goal_marker.scale.y = 0.3
        goal_marker.scale.z = 0.1
        goal_marker.color = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.8)
    markers.markers.append(goal_marker)
    return markers


def diagnostics_msg(name: str, hardware_id: str, level: str, message: str,
                    values: dict[str, object], stamp: Time) -> DiagnosticArray:
    """One DiagnosticStatus in a DiagnosticArray (what diagnostic_updater would publish)."""
    status = DiagnosticStatus(level=LEVELS[level], name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


def diagnostic_values(msg: DiagnosticArray, name: str) -> tuple[str, str, dict[str, str]] | None:
    """(level name, message, key -> value) of the status called `name`, or None (for tools and tests)."""
    by_level = {v: k for k, v in LEVELS.items()}
    for status in msg.status:
        if status.name == name:
            level = bytes([status.level]) if isinstance(status.level, int) else bytes(status.level)
            return by_level.get(level, "?"), status.message, {kv.key: kv.value for kv in status.values}
    return None


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)


# --- parameters -----------------------------------------------------------------------------------

def declare_config_parameters(node, defaults, describe=lambda name: "") -> None:
    """Declare one ROS parameter per field of the config dataclass instance `defaults`. Dynamic typing:
    a YAML `10` for a float must not kill the node; `read_config_parameters` checks the types."""
    from rcl_interfaces.msg import ParameterDescriptor
    for f in fields(defaults):
        value = getattr(defaults, f.name)
        node.declare_parameter(f.name, list(value) if isinstance(value, tuple) else value,
                               ParameterDescriptor(description=describe(f.name), dynamic_typing=True))


def read_config_parameters(node, config_cls):
    """The node's parameters as a validated `config_cls`; unknown (typo'd) names are a ConfigError."""
    from planner.config import from_dict
    from planner.errors import ConfigError
    known = tuple(f.name for f in fields(config_cls))
    unknown = unknown_parameters(node, known)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    return from_dict(config_cls, {name: node.get_parameter(name).value for name in known})


def unknown_parameters(node, known: tuple[str, ...]) -> list[str]:
    """Parameters given to `node` (params file, -p) that it does not declare: typos that rclpy would
    otherwise ignore silently. ROS' own (use_sim_time, qos_overrides.*) are not counted."""
    given = getattr(node, "_parameter_overrides", {}) or {}
    return sorted(name for name in given
                  if name not in known and name != "use_sim_time" and not name.startswith("qos_overrides."))


# --- spinning -------------------------------------------------------------------------------------

_stop_requested = []


def init_ros(args: list[str] | None) -> None:
    """rclpy.init without its signal handlers (which shut the context down at once): Ctrl-C raises
    KeyboardInterrupt as in plain Python, and inside `spin` Ctrl-C / SIGTERM end the loop between
    callbacks, so a node can still publish (a zero command) before the context goes away."""
    import sys

    import rclpy
    from rclpy.signals import SignalHandlerOptions
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)


def spin(node) -> None:
    """Spin `node` on an EventsExecutor until shutdown or a signal.

    EventsExecutor: ~24 us per queued message against ~200 us for SingleThreadedExecutor (NOTES).
    Spun in short spin_once slices: measured here, EventsExecutor.spin() neither fired timers created
    after add_node (lifecycle configure creates them) nor returned to Python for SIGINT / SIGTERM.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.experimental import EventsExecutor
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: _stop_requested.append(signum))
    executor = EventsExecutor(context=node.context)
    executor.add_node(node)
    try:
        while rclpy.ok(context=node.context) and not _stop_requested:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


# --- simulator side -------------------------------------------------------------------------------

def scan_msg(ranges: Sequence[float], angle_min: float, angle_increment: float, range_min: float,
             range_max: float, stamp: Time, frame_id: str, scan_time: float = 0.0) -> LaserScan:
    msg = LaserScan()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    n = len(ranges)
    msg.angle_min = float(angle_min)
    msg.angle_increment = float(angle_increment)
    msg.angle_max = float(angle_min + angle_increment * max(n - 1, 0))
    msg.range_min, msg.range_max = float(range_min), float(range_max)
    msg.scan_time = float(scan_time)
    msg.ranges = np.asarray(ranges, dtype=np.float32).tolist()
    return msg


def odom_msg(pose: Pose2D, twist: Twist2D, stamp: Time, frame_id: str, child_frame_id: str) -> Odometry:
    msg = Odometry()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(pose.x), float(pose.y)
    msg.pose.pose.orientation = quaternion_from_yaw(pose.yaw)
    msg.twist.twist.linear.x = float(twist.v)
    msg.twist.twist.angular.z = float(twist.w)
    return msg


def goal_msg(goal: Pose2D, stamp: Time, frame_id: str) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.pose.position.x, msg.pose.position.y = float(goal.x), float(goal.y)
    msg.pose.orientation = quaternion_from_yaw(goal.yaw)
    return msg
