"""The node's per-scan shortcuts in ros_nodes/convert.py give the same messages / arrays as the plain
conversions (issue 7: less work per scan, nothing else changes)."""
import array
import math

import numpy as np

from ros_nodes import convert


def test_scan_from_msg_reads_rclpy_buffers_and_lists_alike():
    ranges = np.array([0.5, np.inf, np.nan, -np.inf, 7.25, 1e-3], dtype=np.float32)
    msg = convert.scan_msg(ranges, -1.0, 0.4, 0.05, 8.0, convert.sec_to_stamp(3.5), "laser")
    assert isinstance(msg.ranges, array.array)                 # what rclpy hands a subscriber
    fast = convert.scan_from_msg(msg)
    assert fast.ranges.dtype == np.float32 and np.array_equal(fast.ranges, ranges, equal_nan=True)
    msg.ranges[0] = 2.0                                        # a copy: the message may be reused
    assert fast.ranges[0] == np.float32(0.5)
    plain = type("Msg", (), {"ranges": ranges.tolist(), "angle_min": msg.angle_min,
                             "angle_increment": msg.angle_increment, "range_min": msg.range_min,
                             "range_max": msg.range_max, "header": msg.header})()
    slow = convert.scan_from_msg(plain)
    assert np.array_equal(slow.ranges, np.array(ranges.tolist(), dtype=np.float32), equal_nan=True)


def test_fill_path_msg_equals_a_new_path_msg_whatever_came_before():
    rng = np.random.default_rng(0)
    msg = None
    for n, frame, sec in ((10, "odom", 1.0), (10, "odom", 1.02), (5, "odom", 1.04), (5, "map", 1.06),
                          (5, "map", 1.08), (10, "map", 1.1)):
        path = rng.uniform(-3, 3, (n, 3))
        if sec == 1.08:
            path[2, 2] = math.nan
        stamp = convert.sec_to_stamp(sec)
        before = msg
        msg = convert.fill_path_msg(msg, path, stamp, frame)
        expected = convert.path_msg(path, stamp, frame)
        if before is not None and len(before.poses) == n and before.header.frame_id == frame:
            assert msg is before                                   # refilled in place
        for got, want in zip(msg.poses, expected.poses):
            g, w = got.pose, want.pose
            assert (g.position.x, g.position.y, g.position.z) == (w.position.x, w.position.y, w.position.z)
            assert got.header == want.header
            for axis in "xyzw":
                a, b = getattr(g.orientation, axis), getattr(w.orientation, axis)
                assert a == b or (math.isnan(a) and math.isnan(b))
        assert msg.header == expected.header and len(msg.poses) == len(expected.poses)
        if not np.isnan(path).any():
            assert msg == expected
