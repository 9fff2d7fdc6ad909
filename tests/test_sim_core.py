"""PyBullet scene: lidar ranges against known boxes, contacts, body pool, worlds and seed splits."""
import math

import numpy as np
import pytest

from planner.errors import ConfigError, MapError
from planner.sensing import Pose2D, SensingConfig, summarize, Twist2D
from planner.vehicles import JACKAL
from sim.core import LidarConfig, Scene, footprint_extent, render_topdown
from sim.worlds import (LEVELS, NUM_LEVELS, SPLITS, TEST_SEEDS, TRAIN_SEEDS, VAL_SEEDS, Box, InvalidLevel, Mover,
                        OccupancyGrid, World, boxes_from_grid, check_level, generate)


def one_box_world(x=3.0, y=0.0, half=0.5, **kw):
    return World(obstacles=[Box(x, y, half, half)], start=Pose2D(0, 0, 0), goal=Pose2D(4, 3), bounds=(-5, -5, 5, 5),
                 walled=False, **kw)


@pytest.fixture(scope="module")
def scene():
    s = Scene(JACKAL, LidarConfig(beams=181, fov=math.pi, noise_std=0.0))
    yield s
    s.close()


def test_lidar_measures_the_distance_to_a_box_face(scene):
    scene.load(one_box_world())
    r = scene.ray_ranges(0.0, 0.0, 0.0)
    ahead = r[90]                          # beam at angle 0
    assert ahead == pytest.approx(2.5, abs=1e-3)
    # Turning the robot by +90 deg puts the box on the right (angle -90 deg, beam 0).
    r = scene.ray_ranges(0.0, 0.0, math.pi / 2)
    assert r[0] == pytest.approx(2.5, abs=1e-3) and math.isinf(r[180])
    # Beyond range_max: no return is +inf (REP 117), and the scan is a valid LaserScan for summarize().
    scan = scene.scan(-6.0, 0.0, 0.0)
    assert np.isinf(scan.ranges).sum() > 0
    s = summarize(scene.scan(0, 0, 0), Pose2D(), Twist2D(), Pose2D(4, 3), cfg=SensingConfig(num_sectors=64, fov=math.pi))
    assert s.lidar.min() == pytest.approx(2.5 / 8.0, abs=0.01) and not s.problems


def test_noise_and_dropout_are_applied_from_the_rng():
    s = Scene(JACKAL, LidarConfig(beams=64, noise_std=0.05, dropout=0.2))
    try:
        s.load(one_box_world())
        a = s.scan(0, 0, 0, np.random.default_rng(1)).ranges
        b = s.scan(0, 0, 0, np.random.default_rng(1)).ranges
        c = s.scan(0, 0, 0, np.random.default_rng(2)).ranges
        assert np.array_equal(a, b, equal_nan=True) and not np.array_equal(a, c, equal_nan=True)
        assert 0 < np.isnan(a).sum() < 64
    finally:
        s.close()


def test_collision_is_detected_by_pybullet_contacts(scene):
    scene.load(one_box_world())
    scene.set_robot(0.0, 0.0, 0.0)
    assert not scene.in_collision()
    scene.set_robot(2.3, 0.0, 0.0)         # front face at 2.555 m overlaps the box (starts at 2.5)
    assert scene.in_collision()
    scene.set_robot(2.2, 0.0, math.pi / 2)  # turned: half width 0.215 -> clear by ~0.085 m
    assert not scene.in_collision()


def test_moving_obstacle_follows_its_segment(scene):
    m = Mover(0.25, 0.25, (3.0, -2.0), (3.0, 2.0), speed=1.0, phase=0.0)
    scene.load(one_box_world(x=-3.0, movers=[m]))
    scene.move_movers(4.0)                  # 4 m at 1 m/s: at b = (3, 2)
    assert scene.ray_ranges(0, 0, math.atan2(2, 3))[90] < 4.0
    scene.move_movers(0.0)                  # back at a: nothing ahead along that bearing
    assert math.isinf(scene.ray_ranges(0, 0, math.atan2(2, 3))[90])
    assert m.positions(np.array([0.0, 4.0, 8.0, 2.0, 6.0])) == pytest.approx(
        np.array([[3, -2], [3, 2], [3, -2], [3, 0], [3, 0]]))
    assert m.position(5.0) == pytest.approx((3.0, 1.0))


def test_bodies_are_reused_across_worlds(scene):
    scene.load(generate(3, 11))
    n = scene.num_bodies
    for _ in range(3):
        scene.load(generate(3, 11))
    assert scene.num_bodies == n


def test_footprint_extent():
    ext = footprint_extent(JACKAL, np.array([0.0, math.pi / 2, math.pi]))
    assert ext == pytest.approx([0.255, 0.215, 0.255])


def test_seed_splits_never_overlap():
    ranges = [TRAIN_SEEDS, VAL_SEEDS, TEST_SEEDS]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            assert a.stop <= b.start or b.stop <= a.start
    assert set(SPLITS) == {"train", "val", "test"}


def test_generation_is_seeded_and_levels_get_harder():
    a, b = generate(4, 123), generate(4, 123)
    assert a.obstacles == b.obstacles and a.movers == b.movers and a.start == b.start
    assert generate(4, 124).obstacles != a.obstacles
    assert LEVELS[0].n_boxes == 0 and LEVELS[0].n_movers == 0
    assert [s.n_boxes for s in LEVELS] == sorted(s.n_boxes for s in LEVELS)
    assert LEVELS[-1].mover_speed[1] > LEVELS[2].mover_speed[1] and LEVELS[-1].n_traps > 0
    for level in range(NUM_LEVELS):
        w = generate(level, TEST_SEEDS.start + 1)
        w.validate()                        # start/goal clear, goal reachable
        assert math.isfinite(w.planning().reference_length)


@pytest.mark.parametrize("bad", [-1, NUM_LEVELS, 1.5, "2", True, None])
def test_invalid_levels_are_clear_errors(bad):
    with pytest.raises(InvalidLevel, match="level must be an integer"):
        check_level(bad)
    assert issubclass(InvalidLevel, ConfigError) and issubclass(InvalidLevel, ValueError)


def test_world_validation_errors():
    with pytest.raises(MapError, match="start .* inside or too close"):
        World([Box(0, 0, 0.5, 0.5)], Pose2D(0, 0), Pose2D(3, 3), (-5, -5, 5, 5)).validate()
    with pytest.raises(MapError, match="outside the map"):
        World([], Pose2D(0, 0), Pose2D(9, 0), (-5, -5, 5, 5)).validate()
    wall = [Box(2.0, 0, 0.1, 5.0)]         # a wall across the whole arena
    with pytest.raises(MapError, match="unreachable"):
        World(wall, Pose2D(0, 0), Pose2D(4, 0), (-5, -5, 5, 5)).validate()


def test_boxes_from_grid_cover_the_cells():
    occ = np.zeros((20, 30), bool)
    occ[2:5, 3:10] = True
    occ[10:18, 20:22] = True
    occ[15, 0:30] = True
    grid = OccupancyGrid(occ, 0.1, (1.0, -1.0))
    boxes = boxes_from_grid(grid)
    assert len(boxes) <= 6
    back = OccupancyGrid(np.zeros_like(occ), 0.1, grid.origin)
    from sim.worlds import rasterize_box
    for b in boxes:
        rasterize_box(back, Box(b.x, b.y, b.half_x - 0.051, b.half_y - 0.051))
    assert np.array_equal(back.occupied, occ)


def test_render_topdown_draws_the_scene():
    w = generate(2, 5)
    img = render_topdown(w, w.start, JACKAL, trail=np.array([[w.start.x, w.start.y], [0, 0]]))
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    grey = (img == 90).all(axis=2).sum()
    assert grey > 1000                      # obstacles and walls are drawn
