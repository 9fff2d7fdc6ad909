"""The sensing function: one input path for simulator and robot."""
import math

import numpy as np
import pytest

from planner.errors import SensorError
from planner.sensing import STATE_DIM, Pose2D, Scan, SensingConfig, Twist2D, summarize
from planner.vehicles import CAR, JACKAL, NUM_PRIMITIVES, primitive_table, rollout

CFG = SensingConfig(num_sectors=16, fov=math.pi, range_max=8.0)


def make_scan(n=181, fov=math.pi, value=5.0, **kw):
    ranges = np.full(n, value, dtype=np.float32)
    return Scan(ranges=ranges, angle_min=-fov / 2, angle_increment=fov / (n - 1), range_min=0.1,
                range_max=10.0, **kw)


def summarize_scan(scan, **kw):
    return summarize(scan, Pose2D(), Twist2D(), Pose2D(3.0, 4.0), cfg=CFG, **kw)


def test_sectors_are_min_pooled_and_normalised():
    scan = make_scan()
    scan.ranges[90] = 1.0             # straight ahead
    s = summarize_scan(scan)
    assert s.lidar.shape == (16,) and s.lidar.dtype == np.float32
    assert s.state.shape == (STATE_DIM,)
    assert s.lidar.min() == pytest.approx(1.0 / 8.0)
    assert np.argmin(s.lidar) in (7, 8)
    assert np.all(s.lidar[np.arange(16) != np.argmin(s.lidar)] == pytest.approx(5.0 / 8.0))
    assert s.problems == ()
    assert s.goal_distance == pytest.approx(5.0)


def test_rep117_special_values():
    scan = make_scan()
    scan.ranges[:10] = np.inf          # no return -> free to range_max
    scan.ranges[10] = -np.inf          # closer than range_min -> obstacle at range_min
    scan.ranges[20:23] = np.nan        # invalid
    scan.ranges[30] = 50.0             # beyond range_max -> no return, reported
    scan.ranges[40] = -1.0             # invalid, reported
    s = summarize_scan(scan)
    assert np.all(np.isfinite(s.lidar)) and s.lidar.min() >= 0 and s.lidar.max() <= 1
    assert s.lidar[0] == pytest.approx(0.1 / 8.0)
    text = " ".join(s.problems)
    assert "NaN" in text and "negative" in text and "beyond range_max" in text


def test_mostly_invalid_scan_is_flagged():
    scan = make_scan(value=np.nan)
    s = summarize_scan(scan)
    assert any("usable" in p for p in s.problems)
    assert np.all(s.lidar == 0.0)   # unknown is treated as blocked


@pytest.mark.parametrize("scan, needle", [
    (make_scan(n=8), "beams"),
    (make_scan(fov=math.pi / 2), "covers"),
    (Scan(np.ones(100), 0.0, -0.01, 0.1, 10.0), "angle_increment"),
    (Scan(np.ones(100), -1.6, 0.033, 0.1, float("nan")), "not finite"),
])
def test_unusable_scans_raise(scan, needle):
    with pytest.raises(SensorError, match=needle):
        summarize_scan(scan)


def test_goal_is_expressed_in_robot_frame():
    s = summarize(make_scan(), Pose2D(1.0, 1.0, math.pi / 2), Twist2D(), Pose2D(1.0, 3.0), cfg=CFG)
    assert s.goal_robot == pytest.approx((2.0, 0.0), abs=1e-9)
    assert s.state[1] == pytest.approx(1.0) and s.state[2] == pytest.approx(0.0, abs=1e-6)


def test_any_resolution_maps_to_the_same_sectors():
    a = summarize_scan(make_scan(n=181, value=3.0))
    b = summarize_scan(make_scan(n=721, value=3.0))
    np.testing.assert_allclose(a.lidar, b.lidar)


@pytest.mark.parametrize("vehicle", [JACKAL, CAR])
def test_primitives_are_feasible(vehicle):
    table = primitive_table(vehicle)
    assert table.shape == (NUM_PRIMITIVES, 2)
    assert np.all(table[:, 0] <= vehicle.max_speed + 1e-6)
    for v, w in table:
        assert abs(w) <= vehicle.yaw_rate_limit(v) + 1e-5
        poses = rollout(0.0, 0.0, v, w, vehicle)
        assert poses.shape[0] >= 5


def test_scan_as_coarse_as_the_sectors_leaves_no_sector_blind():
    # 64 beams for 64 sectors with float32 angles (as a LaserScan carries them): beam centres can miss a
    # sector; those sectors take the beams that overlap them instead of reading as blocked.
    cfg = SensingConfig(num_sectors=64, fov=1.5 * math.pi, range_max=8.0)
    n = 64
    inc = np.float32(cfg.fov / (n - 1))
    scan = Scan(ranges=np.full(n, 4.0, np.float32), angle_min=float(np.float32(-cfg.fov / 2)),
                angle_increment=float(inc), range_min=0.1, range_max=10.0)
    s = summarize(scan, Pose2D(), Twist2D(), Pose2D(3.0, 0.0), cfg=cfg)
    assert not any("without a usable beam" in p for p in s.problems)
    np.testing.assert_allclose(s.lidar, 0.5)


# ---- carrot_on_path: the local goal on a global path ---------------------------------------------
def test_carrot_walks_lookahead_from_the_nearest_path_point():
    from planner.sensing import carrot_on_path
    path = np.array([[0.0, 0.0], [10.0, 0.0]])
    c = carrot_on_path(path, Pose2D(0.3, 0.2, 1.0), 2.5)
    assert (c.x, c.y) == pytest.approx((2.8, 0.0))
    # Around a corner: 1 m left on the first leg, 1.5 m up the second.
    path = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 5.0]])
    c = carrot_on_path(path, Pose2D(1.0, -0.1, 0.0), 2.5)
    assert (c.x, c.y) == pytest.approx((2.0, 1.5))


def test_carrot_is_the_last_point_when_the_path_ends_sooner():
    from planner.sensing import carrot_on_path
    path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    c = carrot_on_path(path, Pose2D(0.9, 0.0, 0.0), 5.0)
    assert (c.x, c.y) == pytest.approx((1.0, 1.0))
    one = carrot_on_path(np.array([[3.0, 4.0]]), Pose2D(), 2.0)
    assert (one.x, one.y) == (3.0, 4.0)


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.array([[0.0, 0.0], [np.nan, 1.0]])])
def test_carrot_rejects_empty_or_non_finite_paths(bad):
    from planner.sensing import carrot_on_path
    with pytest.raises(SensorError, match="global path"):
        carrot_on_path(bad, Pose2D(), 2.0)
