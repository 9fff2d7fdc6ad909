"""Worlds from standard ROS occupancy maps (map_server / nav2_map_server YAML + PGM/PNG image).

    image: my_map.pgm          # relative to the YAML file
    resolution: 0.05           # m per pixel
    origin: [-10.0, -10.0, 0]  # pose of the lower-left pixel (x, y, yaw)
    negate: 0                  # 0: white = free, black = occupied
    occupied_thresh: 0.65
    free_thresh: 0.25
    mode: trinary              # trinary | scale | raw

Pixels are interpreted exactly as map_server does (occupancy p = (255 - value) / 255, or value / 255
when negated; colour images are averaged; transparent pixels are unknown). Occupied cells become box
obstacles, merged into few rectangles (`sim.worlds.boxes_from_grid`) so that ray tests stay cheap;
unknown cells count as occupied (the robot must not plan through space nobody has seen). The map's
occupancy grid is kept on the World, so the expert plans on the exact map, not on the boxes.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import yaml

from planner.errors import MapError
from planner.sensing import Pose2D
from sim.worlds import OccupancyGrid, World, boxes_from_grid

log = logging.getLogger("planner.sim.maps")

MODES = ("trinary", "scale", "raw")
MAX_CELLS = 25_000_000          # 5000 x 5000: beyond this, crop the map (memory and planning time)


def _number(meta: dict, key: str, path: Path, default: float | None = None) -> float:
    if key not in meta:
        if default is None:
            raise MapError(f"{path}: missing required key '{key}'")
        return default
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MapError(f"{path}: '{key}' must be a number, got {value!r}")
    return float(value)


def read_map_yaml(yaml_path: str | Path) -> dict:
    """Parse and check the map_server YAML; returns the normalised fields (image path absolute)."""
    path = Path(yaml_path)
    if not path.is_file():
        raise MapError(f"map file not found: {path}")
    try:
        meta = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MapError(f"{path}: not a valid map YAML ({first})") from None
    if not isinstance(meta, dict):
        raise MapError(f"{path}: expected a mapping with image/resolution/origin, got {type(meta).__name__}")
    if not isinstance(meta.get("image"), str) or not meta["image"]:
        raise MapError(f"{path}: missing required key 'image' (the PGM/PNG file name)")
    resolution = _number(meta, "resolution", path)
    if resolution <= 0:
        raise MapError(f"{path}: resolution must be positive, got {resolution}")
    origin = meta.get("origin")
    if (not isinstance(origin, (list, tuple)) or len(origin) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       for v in origin)):
        raise MapError(f"{path}: 'origin' must be [x, y, yaw] numbers, got {origin!r}")
    negate = meta.get("negate", 0)
    if negate not in (0, 1, True, False):
        raise MapError(f"{path}: 'negate' must be 0 or 1, got {negate!r}")
    occupied = _number(meta, "occupied_thresh", path, 0.65)
    free = _number(meta, "free_thresh", path, 0.25)
    if not 0.0 <= free < occupied <= 1.0:
        raise MapError(f"{path}: need 0 <= free_thresh < occupied_thresh <= 1 "
                       f"(got free_thresh={free}, occupied_thresh={occupied})")
    mode = meta.get("mode", "trinary")
    if mode not in MODES:
        raise MapError(f"{path}: 'mode' must be one of {list(MODES)}, got {mode!r}")
    if origin[2] != 0:
        # map_server itself ignores yaw in most consumers; we do too, but say so.
        log.warning("%s: origin yaw %.3f is ignored (maps are axis-aligned)", path, origin[2])
    image = Path(meta["image"])
    if not image.is_absolute():
        image = path.parent / image
    return {"image": image, "resolution": resolution, "origin": (float(origin[0]), float(origin[1])),
            "negate": bool(negate), "occupied_thresh": occupied, "free_thresh": free, "mode": mode}


def read_occupancy(meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """(occupied, unknown) boolean rasters, row 0 = bottom of the map (y = origin y)."""
    from PIL import Image, UnidentifiedImageError

    image = meta["image"]
    if not image.is_file():
        raise MapError(f"map image not found: {image}")
    try:
        with Image.open(image) as im:
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
            if im.mode in ("I", "I;16", "F"):
                raise MapError(f"{image}: {im.mode} images are not map images (need 8-bit grey or colour)")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MapError(f"{image}: cannot read the map image ({exc})") from None
    if rgba.shape[0] * rgba.shape[1] > MAX_CELLS:
        raise MapError(f"{image}: {rgba.shape[1]}x{rgba.shape[0]} pixels is larger than the "
                       f"{MAX_CELLS} cells supported; crop the map")
    value = rgba[..., :3].mean(axis=2)                 # map_server averages colour channels
    transparent = (rgba[..., 3] == 0) if has_alpha else np.zeros(value.shape, dtype=bool)
    if meta["mode"] == "raw":
        occ = value > meta["occupied_thresh"] * 100.0
        unknown = (value > 100.0) | transparent
        occ &= ~unknown
    else:
        p = value / 255.0 if meta["negate"] else (255.0 - value) / 255.0
        occ = (p > meta["occupied_thresh"]) & ~transparent
        if meta["mode"] == "trinary":
            unknown = ((p >= meta["free_thresh"]) & ~occ) | transparent
        else:   # scale: in-between values are occupancy costs, not unknown space
            unknown = transparent
    # Image row 0 is the top of the map; the grid's row 0 is at origin y.
    return np.flipud(occ), np.flipud(unknown)


def load_ros_map(yaml_path: str | Path, start: Pose2D, goal: Pose2D, validate: bool = True) -> World:
    """World from a map_server YAML with a start pose and a goal (both in the map frame).

    Raises MapError for a missing or malformed YAML or image, a start or goal outside the map or
    inside / too close to an obstacle, and an unreachable goal.
    """
    meta = read_map_yaml(yaml_path)
    occ, unknown = read_occupancy(meta)
    blocked = occ | unknown
    if blocked.all():
        raise MapError(f"{yaml_path}: the map has no free cells")
    res, (ox, oy) = meta["resolution"], meta["origin"]
    grid = OccupancyGrid(occupied=blocked, resolution=res, origin=(ox, oy))
    bounds = (ox, oy, ox + blocked.shape[1] * res, oy + blocked.shape[0] * res)
    world = World(obstacles=boxes_from_grid(grid), start=start, goal=goal, bounds=bounds, walled=False,
                  grid=grid, name=Path(yaml_path).stem)
    if validate:
        world.validate()
    return world


def parse_pose(text: str, what: str, need_yaw: bool) -> Pose2D:
    """'X,Y[,YAW]' from the command line -> Pose2D (MapError with the expected format otherwise)."""
    parts = [p for p in text.replace(" ", "").split(",") if p != ""]
    want = "X,Y,YAW" if need_yaw else "X,Y"
    if len(parts) != (3 if need_yaw else 2) and len(parts) != 3:
        raise MapError(f"{what} must be {want}, got {text!r}")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise MapError(f"{what} must be {want} numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise MapError(f"{what} must be finite, got {text!r}")
    return Pose2D(vals[0], vals[1], vals[2] if len(vals) == 3 else 0.0)
