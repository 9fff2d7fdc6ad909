"""Message <-> plain-type conversions (ros_nodes/convert.py), on real ROS message classes."""
import math

import numpy as np
import pytest

from planner.decision import Decision
from planner.sensing import Pose2D, SensingConfig, Twist2D, summarize
from ros_nodes import convert


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, math.pi - 1e-6, -math.pi + 1e-6, 2.5])
def test_yaw_round_trips_through_a_quaternion(yaw):
    assert convert.yaw_from_quaternion(convert.quaternion_from_yaw(yaw)) == pytest.approx(yaw, abs=1e-9)


def test_unnormalised_quaternion_gives_the_same_yaw_and_a_zero_one_gives_nan():
    q = convert.quaternion_from_yaw(0.7)
    q.z, q.w = 3 * q.z, 3 * q.w
    assert convert.yaw_from_quaternion(q) == pytest.approx(0.7)
    q.z = q.w = 0.0
    assert math.isnan(convert.yaw_from_quaternion(q))


@pytest.mark.parametrize("t", [0.0, 1.5, 1234.000000001, 1795562245.795925842])
def test_stamp_round_trip(t):
    assert convert.stamp_to_sec(convert.sec_to_stamp(t)) == pytest.approx(t, abs=1e-9 * max(1.0, t))


def test_laser_scan_to_sensing_scan_keeps_geometry_and_rep117_values():
    ranges = [1.0, math.nan, math.inf, -math.inf, 9.5] + [3.0] * 266
    msg = convert.scan_msg(ranges, -2.356, 0.01745, 0.05, 8.0, convert.sec_to_stamp(12.5), "laser")
    scan = convert.scan_from_msg(msg)
    assert scan.ranges.dtype == np.float32 and scan.ranges.size == 271
    assert scan.angle_min == pytest.approx(-2.356) and scan.angle_increment == pytest.approx(0.01745)
    assert (scan.range_min, scan.range_max, scan.stamp, scan.frame_id) == (pytest.approx(0.05), 8.0, 12.5, "laser")
    assert math.isnan(scan.ranges[1]) and scan.ranges[2] == np.inf and scan.ranges[3] == -np.inf
    assert msg.angle_max == pytest.approx(-2.356 + 270 * 0.01745, rel=1e-6)
    # and it feeds the one sensing function
    summary = summarize(scan, Pose2D(), Twist2D(), Pose2D(3, 0), cfg=SensingConfig())
    assert any("beyond range_max" in p for p in summary.problems)


def test_odometry_and_goal_round_trip():
    msg = convert.odom_msg(Pose2D(1.0, -2.0, 0.5), Twist2D(0.8, -0.3), convert.sec_to_stamp(3.0), "odom", "base_link")
    pose, twist = convert.odom_from_msg(msg)
    assert (pose.x, pose.y) == (1.0, -2.0) and pose.yaw == pytest.approx(0.5)
    assert (twist.v, twist.w) == (pytest.approx(0.8), pytest.approx(-0.3))
    assert msg.header.frame_id == "odom" and msg.child_frame_id == "base_link"
    g = convert.goal_from_msg(convert.goal_msg(Pose2D(4.0, 5.0, -1.0), convert.sec_to_stamp(1.0), "odom"))
    assert (g.x, g.y) == (4.0, 5.0) and g.yaw == pytest.approx(-1.0)


def test_commands_path_markers_and_diagnostics():
    stamp = convert.sec_to_stamp(42.25)
    twist = convert.twist_msg(0.5, -0.2)
    stamped = convert.twist_stamped_msg(0.5, -0.2, stamp, "base_link")
    assert convert.command_from_msg(twist) == convert.command_from_msg(stamped) == Twist2D(0.5, -0.2)
    assert stamped.header.stamp == stamp
    path = np.array([[0.1 * k, 0.0, 0.05 * k] for k in range(10)])
    pmsg = convert.path_msg(path, stamp, "odom")
    assert len(pmsg.poses) == 10 and pmsg.header.frame_id == "odom"
    assert pmsg.poses[3].pose.position.x == pytest.approx(0.3)
    assert convert.yaw_from_quaternion(pmsg.poses[4].pose.orientation) == pytest.approx(0.2)
    decision = Decision(0.5, -0.2, path, "corrected", "swerved")
    markers = convert.decision_markers(decision, Pose2D(3, 1), stamp, "odom")
    assert len(markers.markers) == 3 and len(markers.markers[0].points) == 10
    assert "corrected" in markers.markers[1].text
    assert convert.decision_markers(decision, None, stamp, "odom").markers[2].action == markers.markers[2].DELETE
    diag = convert.diagnostics_msg("planner", "planner_node", "ERROR", "no scan", {"p99": 1.23456, "n": 3,
                                                                                   "x": math.nan}, stamp)
    level, message, values = convert.diagnostic_values(diag, "planner")
    assert (level, message, values) == ("ERROR", "no scan", {"p99": "1.235", "n": "3", "x": "nan"})
    assert convert.diagnostic_values(diag, "other") is None
