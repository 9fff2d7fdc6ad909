"""ROS map_server maps -> Worlds: real PGM/PNG files, map_server's pixel rules, clear errors."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from planner.errors import MapError
from planner.sensing import Pose2D
from sim.maps import load_ros_map, parse_pose, read_map_yaml, read_occupancy
from sim.worlds import OccupancyGrid, rasterize_box

DATA = Path(__file__).parent / "data"
MAP = DATA / "small_map.yaml"
START, GOAL = Pose2D(1.0, 1.0, 0.0), Pose2D(6.5, 4.5)


def write_map(tmp_path, pixels, **meta):
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(tmp_path / "m.png")
    fields = {"image": "m.png", "resolution": 0.1, "origin": [0.0, 0.0, 0.0], "negate": 0,
              "occupied_thresh": 0.65, "free_thresh": 0.25, **meta}
    (tmp_path / "m.yaml").write_text("\n".join(f"{k}: {v}" for k, v in fields.items()))
    return tmp_path / "m.yaml"


def test_pgm_and_png_give_the_same_world():
    a = load_ros_map(MAP, START, GOAL)
    b = load_ros_map(DATA / "small_map_png.yaml", START, GOAL)
    assert a.bounds == pytest.approx((0.0, 0.0, 8.0, 6.0))
    assert np.array_equal(a.grid.occupied, b.grid.occupied)
    assert not a.walled and a.grid.resolution == 0.05


def test_boxes_cover_exactly_the_occupied_cells_with_few_bodies():
    world = load_ros_map(MAP, START, GOAL)
    occ = world.grid.occupied
    assert len(world.obstacles) <= 12 < occ.sum() / 100      # merged, not one box per cell
    back = OccupancyGrid(np.zeros_like(occ), world.grid.resolution, world.grid.origin)
    for box in world.obstacles:
        # Shrink by a hair so rasterising (which inflates by half a cell) hits exactly the cells covered.
        rasterize_box(back, type(box)(box.x, box.y, box.half_x - 0.026, box.half_y - 0.026))
    assert np.array_equal(back.occupied, occ)


def test_image_rows_are_flipped_to_map_y():
    world = load_ros_map(MAP, START, GOAL)
    # The box drawn at x 1.5..2.5, y 3.5..4.5 (upper half of the image file's lower rows).
    r, c = world.grid.cell(2.0, 4.0)
    assert world.grid.occupied[r, c]
    r, c = world.grid.cell(2.0, 1.5)
    assert not world.grid.occupied[r, c]


def test_unknown_cells_are_blocked():
    world = load_ros_map(MAP, START, GOAL)
    r, c = world.grid.cell(0.5, 5.6)          # the grey (205) corner
    assert world.grid.occupied[r, c]


def test_negate_raw_and_scale_modes(tmp_path):
    # Image row 0 is the top of the map, i.e. grid row 1 here.
    px = np.array([[0, 80, 255], [10, 128, 200]])
    occ, unk = read_occupancy(read_map_yaml(write_map(tmp_path, px)))       # trinary, white = free
    assert occ[1].tolist() == [True, True, False] and occ[0].tolist() == [True, False, False]
    assert unk[0].tolist() == [False, True, False] and not unk[1].any()
    occ, unk = read_occupancy(read_map_yaml(write_map(tmp_path, px, negate=1)))
    assert occ[1].tolist() == [False, False, True]
    occ, unk = read_occupancy(read_map_yaml(write_map(tmp_path, px, mode="raw")))
    # raw: the pixel value is the occupancy 0..100 itself, > 100 is unknown
    assert occ[1].tolist() == [False, True, False] and unk[1].tolist() == [False, False, True]
    assert unk[0].tolist() == [False, True, True]
    occ, unk = read_occupancy(read_map_yaml(write_map(tmp_path, px, mode="scale")))
    assert not unk.any() and occ[1].tolist() == [True, True, False]


@pytest.mark.parametrize("start, goal, needle", [
    (Pose2D(2.0, 4.0), GOAL, "start (2.00, 4.00) is inside or too close to an obstacle"),
    (START, Pose2D(6.5, 1.3), "unreachable"),                # inside the closed room
    (START, Pose2D(9.0, 1.0), "outside the map"),
])
def test_bad_start_or_goal(start, goal, needle):
    with pytest.raises(MapError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_ros_map(MAP, start, goal)


def test_bad_files(tmp_path):
    with pytest.raises(MapError, match="map file not found"):
        load_ros_map(tmp_path / "nope.yaml", START, GOAL)
    (tmp_path / "bad.yaml").write_text("image: [unclosed\n")
    with pytest.raises(MapError, match="not a valid map YAML"):
        load_ros_map(tmp_path / "bad.yaml", START, GOAL)
    (tmp_path / "nokey.yaml").write_text("image: m.png\norigin: [0, 0, 0]\n")
    with pytest.raises(MapError, match="resolution"):
        load_ros_map(tmp_path / "nokey.yaml", START, GOAL)
    with pytest.raises(MapError, match="free_thresh < occupied_thresh"):
        read_map_yaml(write_map(tmp_path, np.zeros((4, 4)), free_thresh=0.9))
    with pytest.raises(MapError, match="mode"):
        read_map_yaml(write_map(tmp_path, np.zeros((4, 4)), mode="fancy"))
    missing = write_map(tmp_path, np.zeros((4, 4)), image="gone.pgm")
    with pytest.raises(MapError, match="map image not found"):
        load_ros_map(missing, START, GOAL)
    corrupt = write_map(tmp_path, np.zeros((4, 4)))
    (tmp_path / "m.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(MapError, match="cannot read the map image"):
        load_ros_map(corrupt, START, GOAL)
    # A truncated copy of the real PGM.
    (tmp_path / "t.pgm").write_bytes((DATA / "small_map.pgm").read_bytes()[:500])
    with pytest.raises(MapError, match="cannot read the map image"):
        load_ros_map(write_map(tmp_path, np.zeros((4, 4)), image="t.pgm"), START, GOAL)


def test_parse_pose():
    assert parse_pose("1,2,0.5", "start", need_yaw=True) == Pose2D(1, 2, 0.5)
    assert parse_pose("1, 2", "goal", need_yaw=False) == Pose2D(1, 2, 0)
    for bad in ("1", "a,b", "1,2,3,4", "nan,1"):
        with pytest.raises(MapError):
            parse_pose(bad, "goal", need_yaw=False)
