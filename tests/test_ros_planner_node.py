"""planner_node in-process: its handlers called directly on a real node (own rclpy context and domain),
with the real runtime on a real (untrained) ONNX int8 model. Safety properties, validation, watchdog."""
import copy
import math
import os
import random
import time

import numpy as np
import pytest
import rclpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from planner.sensing import Pose2D, Twist2D
from planner.vehicles import JACKAL
from ros_nodes import convert
from ros_nodes.planner_node import NodeConfig, PlannerNode

FOV = 1.5 * math.pi


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    from planner.export import export_untrained
    return str(export_untrained(tmp_path_factory.mktemp("model")))


class Harness:
    """A PlannerNode on its own context; records what it publishes on cmd_vel and /diagnostics."""

    def __init__(self, configure=True, **params):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=random.Random(os.getpid()).randrange(120, 230))
        self.node = PlannerNode(context=self.context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.commands, self.diagnostics = [], []
        diag_pub = self.node._diag_pub
        diag_publish = diag_pub.publish
        diag_pub.publish = lambda m: (self.diagnostics.append(m), diag_publish(m))
        self.result = self.node.trigger_configure() if configure else None
        if self.result == TransitionCallbackReturn.SUCCESS:
            cmd_publish = self.node._cmd_pub.publish
            # A copy: the node refills one message per command (publish serialises it at once).
            self.node._cmd_pub.publish = lambda m: (self.commands.append((time.monotonic(), copy.deepcopy(m))),
                                                    cmd_publish(m))
            self.node.trigger_activate()

    def spin(self, seconds):
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(self.node)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        executor.remove_node(self.node)

    def last_diagnostic(self):
        self.node.publish_diagnostics()
        return convert.diagnostic_values(self.diagnostics[-1], "planner: MiniReasoner local planner")

    def close(self):
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def scan_msg(ranges, stamp=1.0, fov=FOV, frame="base_link", range_min=0.05, range_max=8.0):
    n = len(ranges)
    return convert.scan_msg(ranges, -fov / 2, fov / (n - 1), range_min, range_max,
                            convert.sec_to_stamp(stamp), frame)


def odom(x=0.0, y=0.0, yaw=0.0, v=0.0, w=0.0, frame="odom"):
    return convert.odom_msg(Pose2D(x, y, yaw), Twist2D(v, w), convert.sec_to_stamp(1.0), frame, "base_link")


def raw_odom(x, y, qz, qw, v, w, frame):
    msg = odom(frame=frame)
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = qz, qw
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, w
    return msg


def goal(x, y, frame="odom"):
    return convert.goal_msg(Pose2D(x, y), convert.sec_to_stamp(1.0), frame)


def in_guard_zone(msg, safety_distance):
    """Oracle, from the raw message: is there a valid return inside the zone where no forward motion is
    allowed (within safety_distance ahead of the footprint)?"""
    r = np.asarray(msg.ranges, dtype=np.float64)
    a = msg.angle_min + msg.angle_increment * np.arange(r.size)
    ok = np.isfinite(r) & (r >= msg.range_min) & (r < msg.range_max)
    x, y = r[ok] * np.cos(a[ok]), r[ok] * np.sin(a[ok])
    zone = (x >= 0) & (x <= JACKAL.length / 2 + safety_distance) & \
        (np.abs(y) <= JACKAL.width / 2 + 0.5 * safety_distance)
    return bool(zone.any())


def test_decides_on_every_scan_and_stamps_the_command_with_the_scan_stamp(card):
    h = Harness(model_path=card, cmd_vel_stamped=True)
    try:
        assert h.result == TransitionCallbackReturn.SUCCESS
        h.node.on_odom(odom())
        h.node.on_goal(goal(3.0, 0.0))
        for k in range(5):
            h.node.on_scan(scan_msg([6.0] * 271, stamp=10.0 + 0.05 * k))
        stamps = [convert.stamp_to_sec(m.header.stamp) for _, m in h.commands]
        assert stamps == pytest.approx([10.0 + 0.05 * k for k in range(5)])
        assert all(m.header.frame_id == "base_link" for _, m in h.commands)
        assert h.node.decisions == 5
        level, message, values = h.last_diagnostic()
        assert values["decisions"] == "5" and float(values["latency_p50_ms_total"]) > 0
        assert values["model"] == card and values["backend"] == "onnx-int8"
    finally:
        h.close()


MALFORMED_FLOATS = st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.just(-1.0),
                             st.just(0.0), st.floats(-5, 30, allow_nan=False), st.floats(0.05, 8.0))


@st.composite
def scans(draw):
    kind = draw(st.sampled_from(["valid", "obstacle_ahead", "malformed_ranges", "bad_shape", "bad_fields"]))
    n = draw(st.sampled_from([271, 64, 720])) if kind != "bad_shape" else draw(st.sampled_from([0, 1, 2, 10, 63]))
    ranges = np.full(n, draw(st.floats(0.3, 9.0)), dtype=np.float64)
    fov = FOV if kind != "bad_shape" else draw(st.sampled_from([FOV, math.pi / 2, 2 * math.pi]))
    if kind == "obstacle_ahead" and n:
        centre = n // 2 + draw(st.integers(-n // 20, n // 20))
        ranges[max(0, centre - 3): centre + 3] = draw(st.floats(0.06, 0.5))
    if kind == "malformed_ranges" and n:
        idx = draw(st.lists(st.integers(0, n - 1), max_size=n))
        for i in idx:
            ranges[i] = draw(MALFORMED_FLOATS)
    range_min, range_max = 0.05, 8.0
    msg = scan_msg(ranges.tolist() if n else [], fov=fov, range_min=range_min, range_max=range_max) if n >= 2 else None
    if msg is None:
        msg = convert.scan_msg(ranges.tolist(), -fov / 2, 0.01, range_min, range_max,
                               convert.sec_to_stamp(1.0), "base_link")
    if kind == "bad_fields":
        field = draw(st.sampled_from(["angle_min", "angle_increment", "range_min", "range_max"]))
        setattr(msg, field, draw(st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e9])))
    return msg


events = st.one_of(
    st.tuples(st.just("scan"), scans()),
    st.tuples(st.just("odom"), st.builds(raw_odom, x=MALFORMED_FLOATS, y=MALFORMED_FLOATS, qz=MALFORMED_FLOATS,
                                          qw=MALFORMED_FLOATS, v=MALFORMED_FLOATS, w=MALFORMED_FLOATS,
                                          frame=st.sampled_from(["odom", "odom", "map", ""]))),
    st.tuples(st.just("goal"), st.builds(goal, x=MALFORMED_FLOATS, y=MALFORMED_FLOATS,
                                          frame=st.sampled_from(["odom", "odom", "map", "/odom", ""]))),
)


def test_malformed_messages_never_crash_and_never_drive_into_a_near_obstacle(card):
    """Thousands of malformed LaserScan / Odometry / PoseStamped messages, interleaved with valid ones."""
    h = Harness(model_path=card, safety_distance=0.2)
    seen = {"messages": 0, "scans": 0, "moving": 0}
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(4.0, 0.5))

        @settings(max_examples=320, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(events, min_size=6, max_size=16))
        def run(sequence):
            h.node.on_odom(odom())                  # a valid state to start from, so decisions happen
            h.node.on_goal(goal(4.0, 0.5))
            for kind, msg in sequence:
                getattr(h.node, f"on_{kind}")(msg)
                seen["messages"] += 1
                if kind != "scan":
                    continue
                seen["scans"] += 1
                cmd = h.node.last_command
                assert math.isfinite(cmd.v) and math.isfinite(cmd.w)
                assert 0.0 <= cmd.v <= JACKAL.max_speed and abs(cmd.w) <= JACKAL.max_yaw_rate
                if cmd.v > 0:
                    seen["moving"] += 1
                    assert not in_guard_zone(msg, 0.2), "forward command with an obstacle inside the safety distance"
        run()
        assert seen["messages"] >= 2000 and seen["scans"] > 400, seen
        assert seen["moving"] > 0, "no scan ever produced motion: the property was never exercised"
        assert h.node.input_problems > 0
        assert h.node.active
    finally:
        h.close()


def test_goal_in_an_unknown_frame_is_rejected_stops_and_says_why(card):
    h = Harness(model_path=card)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(3.0, 0.0))
        h.node.on_scan(scan_msg([6.0] * 271))
        h.last_diagnostic()
        h.node.on_goal(goal(3.0, 0.0, frame="map"))
        assert "goal in frame 'map' rejected" in h.node.last_problem
        h.node.on_scan(scan_msg([6.0] * 271))
        assert h.node.last_command == Twist2D(0.0, 0.0)
        level, message, values = h.last_diagnostic()
        assert level == "WARN" and "map" in message and values["goal"] == "none"
    finally:
        h.close()


def test_goal_reached_stops_and_reports_and_a_new_goal_replaces_it(card):
    h = Harness(model_path=card)
    try:
        h.node.on_odom(odom(2.0, 1.0))
        h.node.on_goal(goal(2.1, 1.0))
        h.node.on_scan(scan_msg([6.0] * 271))
        assert h.node.last_decision.status == "goal_reached" and h.node.last_command == Twist2D(0.0, 0.0)
        assert h.node.state == "goal reached"
        _, _, values = h.last_diagnostic()
        assert values["goal_reached"] == "True"
        h.node.on_goal(goal(6.0, 1.0))   # replaces the reached goal
        h.node.on_scan(scan_msg([6.0] * 271))
        assert h.node.last_decision.status != "goal_reached" and h.node.state == "driving"
        _, _, values = h.last_diagnostic()
        assert values["goal"] == "(6.00, 1.00)" and values["goal_reached"] == "False"
    finally:
        h.close()


def test_wrong_beam_count_and_field_of_view_stop_with_a_diagnostic(card):
    h = Harness(model_path=card)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(3.0, 0.0))
        h.node.on_scan(scan_msg([6.0] * 32))                 # fewer beams than the model's sectors
        assert h.node.last_command == Twist2D(0.0, 0.0) and "beams" in h.node.last_problem
        h.node.on_scan(scan_msg([6.0] * 271, fov=math.pi / 2))   # 90 deg: the model needs 270
        assert h.node.last_command == Twist2D(0.0, 0.0) and "model needs" in h.node.last_problem
        level, message, _ = h.last_diagnostic()
        assert level == "WARN" and "scan rejected" in message
    finally:
        h.close()


def test_stale_scan_gives_a_zero_command_within_two_control_periods_and_an_error(card):
    h = Harness(model_path=card, scan_timeout_s=0.3, odom_timeout_s=5.0, control_period_s=0.05)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(4.0, 0.0))
        h.node.on_scan(scan_msg([6.0] * 271))
        last_scan = time.monotonic()
        h.spin(0.7)
        zeros = [t for t, m in h.commands if t > last_scan and m.linear.x == 0.0 and m.angular.z == 0.0]
        assert zeros, "no zero command after the scan went stale"
        # timeout + two control periods (+ scheduling slack on a loaded 2-core CI machine)
        assert zeros[0] - last_scan <= 0.3 + 2 * 0.05 + 0.15
        level, message, values = h.last_diagnostic()
        assert level == "ERROR" and "scan" in message and values["stale_inputs"] == "scan"
        h.node.on_odom(odom())
        h.node.on_scan(scan_msg([6.0] * 271))                # inputs are back: decisions resume
        h.spin(0.15)
        assert h.node.stale == [] and h.last_diagnostic()[0] != "ERROR"
    finally:
        h.close()


def test_model_that_fails_to_load_is_reported_not_a_crash(tmp_path):
    broken = tmp_path / "mini.card.json"
    broken.write_text("{ not json")
    for path in (str(tmp_path / "missing.card.json"), str(broken)):
        h = Harness(model_path=path)
        try:
            assert h.result == TransitionCallbackReturn.FAILURE
            assert "model failed to load" in h.node.error
            level, message, values = h.last_diagnostic()
            assert level == "ERROR" and "model failed to load" in message and values["state"] == "unconfigured"
            h.node.on_scan(scan_msg([6.0] * 271))   # inactive: ignored, no crash, no command
            h.node.on_goal(goal(1.0, 0.0))
            assert h.commands == []
        finally:
            h.close()


@pytest.mark.parametrize("name, value, expected", [
    ("deadline_ms", -1.0, "deadline_ms"),
    ("backend", "gpu", "backend"),
    ("cmd_vel_stamped", "yes", "cmd_vel_stamped"),
    ("goal_frames", [""], "goal_frames"),
    ("scan_timeout_s", 0.0, "timeouts"),
    ("vehicle", "tank", "vehicle"),
    ("safety_distnace", 0.3, "unknown parameter(s) safety_distnace"),
])
def test_invalid_parameters_are_rejected_with_a_clear_error(name, value, expected):
    h = Harness(**{name: value})
    try:
        assert h.result == TransitionCallbackReturn.FAILURE
        assert h.node.error.startswith("invalid parameter") and expected in h.node.error
        assert h.last_diagnostic()[0] == "ERROR"
    finally:
        h.close()


def test_integer_for_a_float_parameter_is_accepted():
    h = Harness(configure=False, deadline_ms=10, safety_distance=0)
    try:
        cfg = h.node.read_config()
        assert cfg.deadline_ms == 10.0 and cfg == NodeConfig(deadline_ms=10.0, safety_distance=0.0)
    finally:
        h.close()


def test_lifecycle_deactivate_stops_and_ignores_input_activate_resumes(card):
    h = Harness(model_path=card)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(4.0, 0.0))
        h.node.on_scan(scan_msg([6.0] * 271))
        n = len(h.commands)
        assert h.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert len(h.commands) == n + 1 and h.commands[-1][1].linear.x == 0.0   # stop on the way out
        h.node.on_scan(scan_msg([6.0] * 271))
        assert len(h.commands) == n + 1 and h.last_diagnostic()[:2] == ("WARN", "inactive")
        assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        h.node.on_odom(odom())
        h.node.on_goal(goal(4.0, 0.0))
        h.node.on_scan(scan_msg([6.0] * 271))
        assert len(h.commands) == n + 2 and h.node.state == "driving"
        assert h.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert h.node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS and h.node.planner is None
    finally:
        h.close()


def plan(points, frame="odom"):
    poses = np.column_stack([np.asarray(points, dtype=float), np.zeros(len(points))])
    return convert.path_msg(poses, convert.sec_to_stamp(1.0), frame)


def test_global_plan_steers_to_its_lookahead_point_not_to_the_goal():
    # Same goal (6, 3) in both plans; one leaves to the left first, the other to the right. The DWA
    # backend (no model) follows the plan's lookahead point, so it turns opposite ways.
    turns = []
    for first_leg in ([0.0, 3.0], [0.0, -3.0]):
        h = Harness(backend="dwa", cmd_vel_stamped=True, lookahead=2.5)
        try:
            h.node.on_odom(odom())
            h.node.on_global_plan(plan([[0.0, 0.0], first_leg, [6.0, 3.0]]))
            assert h.node._goal is not None and (h.node._goal.x, h.node._goal.y) == (6.0, 3.0)
            local = h.node._local_goal()
            assert (local.x, local.y) == pytest.approx((0.0, math.copysign(2.5, first_leg[1])))
            h.node.on_scan(scan_msg([6.0] * 271, stamp=10.0))
            turns.append(h.commands[-1][1].twist.angular.z)
            # The goal pose replaces the plan: the model's goal is the goal again.
            h.node.on_goal(goal(6.0, 3.0))
            assert h.node._path is None and h.node._local_goal() == h.node._goal
        finally:
            h.close()
    assert turns[0] > 0 > turns[1]


@pytest.mark.parametrize("bad, why", [(plan([]), "no poses"), (plan([[0.0, 0.0], [1.0, 0.0]], frame="map"), "frame 'map'"),
                                      (plan([[0.0, 0.0], [float("nan"), 1.0]]), "not finite")])
def test_unusable_global_plan_is_rejected_and_stops(bad, why):
    h = Harness(backend="dwa", cmd_vel_stamped=True)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(3.0, 0.0))
        h.node.on_global_plan(bad)
        assert h.node._goal is None and h.node._path is None
        h.node.on_scan(scan_msg([6.0] * 271, stamp=10.0))
        cmd = h.commands[-1][1].twist
        assert cmd.linear.x == 0.0 and cmd.angular.z == 0.0
        level, message, values = h.last_diagnostic()
        assert why in message or any(why in v for v in values.values())
    finally:
        h.close()
