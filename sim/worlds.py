"""World descriptions and the procedural Nav world generator (the difficulty ladder).

A `World` is plain data: static boxes, moving boxes, start, goal, bounds, optionally an exact occupancy
grid (worlds loaded from ROS maps). Anything can build one -- the procedural generator here
(`generate(level, seed)`), the ROS map loader (sim/maps.py), a test -- and every consumer (the PyBullet
scene in sim/core.py, the expert, the metrics) reads only this description.

Geometry that several consumers need (occupancy raster, clearance map, cost-to-go to the goal, the
reference path for SPL / BARN opt_time) is computed lazily by `World.planning()` and cached on the
world, so a reset that never asks for it does not pay for it.

Seed splits: the procedural world for (level, seed) is a pure function of both. Seeds are split into
ranges that never overlap (see SPLITS); training draws from TRAIN_SEEDS, model selection from
VAL_SEEDS, and `planner eval --suite` reports on TEST_SEEDS only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from planner.errors import ConfigError, MapError
from planner.sensing import Pose2D

# ---- seed splits (documented contract: never overlap) ------------------------------------------
TRAIN_SEEDS = range(0, 1_000_000)
VAL_SEEDS = range(1_000_000, 1_010_000)
TEST_SEEDS = range(2_000_000, 2_010_000)
SPLITS = {"train": TRAIN_SEEDS, "val": VAL_SEEDS, "test": TEST_SEEDS}

GRID_RESOLUTION = 0.1       # m per cell for the planning grid (expert, metrics)
WALL_HALF_THICKNESS = 0.1   # m, boundary walls of procedural worlds
OBSTACLE_HEIGHT = 1.0       # m, every obstacle is a box from z=0 to this height


class InvalidLevel(ConfigError, ValueError):
    """A difficulty level outside the ladder (a ConfigError for the CLI, a ValueError for Gymnasium)."""


@dataclass(frozen=True)
class Box:
    """A static box obstacle: centre (x, y), half extents, yaw (rad). Height is OBSTACLE_HEIGHT."""
    x: float
    y: float
    half_x: float
    half_y: float
    yaw: float = 0.0


@dataclass(frozen=True)
class Mover:
    """A box moving back and forth between a and b at `speed` m/s (privileged: the expert knows it).

    `phase` in [0, 1) is where in its cycle it is at t = 0. Its yaw follows the segment direction.
    """
    half_x: float
    half_y: float
    a: tuple[float, float]
    b: tuple[float, float]
    speed: float
    phase: float = 0.0

    @property
    def length(self) -> float:
        return math.hypot(self.b[0] - self.a[0], self.b[1] - self.a[1])

    @property
    def yaw(self) -> float:
        return math.atan2(self.b[1] - self.a[1], self.b[0] - self.a[0])

    @property
    def radius(self) -> float:
        return math.hypot(self.half_x, self.half_y)

    def position(self, t: float) -> tuple[float, float]:
        """Centre at one time t (scalar fast path of `positions`)."""
        length = self.length
        if length < 1e-9 or self.speed <= 0:
            return float(self.a[0]), float(self.a[1])
        u = ((t * self.speed / (2.0 * length) + self.phase) % 1.0) * 2.0
        s = u if u <= 1.0 else 2.0 - u
        return self.a[0] + s * (self.b[0] - self.a[0]), self.a[1] + s * (self.b[1] - self.a[1])

    def positions(self, t: np.ndarray | float) -> np.ndarray:
        """Centre (..., 2) at time(s) t: a triangle wave a -> b -> a with period 2 * length / speed."""
        t = np.asarray(t, dtype=np.float64)
        length = self.length
        if length < 1e-9 or self.speed <= 0:
            return np.broadcast_to(np.array(self.a, dtype=np.float64), t.shape + (2,)).copy()
        period = 2.0 * length / self.speed
        u = ((t / period + self.phase) % 1.0) * 2.0        # 0..2
        s = np.where(u <= 1.0, u, 2.0 - u)[..., None]        # 0..1..0
        a, b = np.asarray(self.a), np.asarray(self.b)
        return a + s * (b - a)


@dataclass
class OccupancyGrid:
    """Occupancy raster: occupied[row, col], row 0 at y = origin[1] (ROS map convention after the
    loader flips the image), cell (r, c) covers [origin + (c, r) * resolution, + resolution)."""
    occupied: np.ndarray
    resolution: float
    origin: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape

    def cell(self, x: float | np.ndarray, y: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) indices (unclipped) of world points."""
        c = np.floor((np.asarray(x) - self.origin[0]) / self.resolution).astype(np.int64)
        r = np.floor((np.asarray(y) - self.origin[1]) / self.resolution).astype(np.int64)
        return r, c

    def inside(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (r >= 0) & (c >= 0) & (r < self.occupied.shape[0]) & (c < self.occupied.shape[1])


@dataclass
class Planning:
    """Privileged geometry of a world, on a GRID_RESOLUTION grid (static obstacles only)."""
    grid: OccupancyGrid
    clearance: np.ndarray        # (H, W) m from a cell centre to the nearest static obstacle surface
    cost_to_go: np.ndarray       # (H, W) clearance-weighted geodesic cost to the goal (inf: blocked)
    reference_path: np.ndarray   # (N, 2) shortest safe path start -> goal on the grid
    reference_length: float      # m, length of reference_path (used for SPL and BARN opt_time)
    next_cell: np.ndarray | None = None   # (H*W,) flat index of the next cell towards the goal, < 0: none

    def path_from(self, x: float, y: float, length: float) -> np.ndarray | None:
        """The first `length` metres of the shortest safe path from (x, y) towards the goal, (N, 2)
        starting at (x, y): the global planner's path, replanned from where the robot is now (movers are
        not in it, like a static map). None when no passable cell near (x, y) reaches the goal."""
        if self.next_cell is None:
            return None
        h, w = self.cost_to_go.shape
        r, c = self.grid.cell(x, y)
        r, c = int(np.clip(r, 0, h - 1)), int(np.clip(c, 0, w - 1))
        node = r * w + c
        if not math.isfinite(self.cost_to_go[r, c]):
            # The robot's own cell is too close to an obstacle for the grid: start from the nearest good one.
            node = _nearest_passable(np.isfinite(self.cost_to_go), r, c, radius=5)
            if node is None:
                return None
        cells, node = _follow_next_cells(self.next_cell, node, self.grid, w, (x, y), length)
        pts = [(x, y)] + cells
        if node < 0 and len(self.reference_path):
            pts.append(tuple(self.reference_path[-1]))     # the goal itself ends the path
        return np.asarray(pts)

    def lookup(self, field_: np.ndarray, x: np.ndarray, y: np.ndarray, outside: float) -> np.ndarray:
        r, c = self.grid.cell(x, y)
        ok = self.grid.inside(r, c)
        out = np.full(np.shape(x), outside, dtype=np.float64)
        out[ok] = field_[r[ok], c[ok]]
        return out


# The robot must fit through: cells whose clearance is below PASS_CLEARANCE are not traversable for
# the reference path / reachability (Jackal half width 0.215 m + margin); the expert's cost-to-go
# additionally prefers cells with clearance >= COMFORT_CLEARANCE (keeps paths centred in gaps).
PASS_CLEARANCE = 0.30
COMFORT_CLEARANCE = 0.7
TIGHT_CLEARANCE = 0.45


@dataclass
class World:
    """A navigation world. Construct directly (tests, ROS maps) or with `generate(level, seed)`.

    obstacles: static boxes (walls included if `walled` is False and the map draws its own);
    movers: moving boxes; bounds: (xmin, ymin, xmax, ymax) of the drivable area; walled: surround the
    bounds with walls in the simulator (procedural worlds) -- otherwise leaving the bounds ends the
    episode as out_of_road; grid: an exact static occupancy grid when one exists (ROS maps), otherwise
    the boxes are rasterised on demand.
    """
    obstacles: list[Box]
    start: Pose2D
    goal: Pose2D
    bounds: tuple[float, float, float, float]
    movers: list[Mover] = field(default_factory=list)
    walled: bool = True
    grid: OccupancyGrid | None = None
    level: int = -1
    seed: int = -1
    name: str = "world"
    _planning: Planning | None = field(default=None, init=False, repr=False, compare=False)

    # ---- geometry -----------------------------------------------------------------------------
    def wall_boxes(self) -> list[Box]:
        if not self.walled:
            return []
        x0, y0, x1, y1 = self.bounds
        t = WALL_HALF_THICKNESS
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + 2 * t, (y1 - y0) / 2 + 2 * t
        return [Box(cx, y0 - t, hx, t), Box(cx, y1 + t, hx, t), Box(x0 - t, cy, t, hy), Box(x1 + t, cy, t, hy)]

    def static_boxes(self) -> list[Box]:
        return list(self.obstacles) + self.wall_boxes()

    def occupancy(self, resolution: float = GRID_RESOLUTION) -> OccupancyGrid:
        """The static occupancy grid (the exact one if given, else the boxes and walls rasterised)."""
        if self.grid is not None:
            return self.grid
        x0, y0, x1, y1 = self.bounds
        pad = 2 * WALL_HALF_THICKNESS + resolution
        origin = (x0 - pad, y0 - pad)
        w = int(math.ceil((x1 - x0 + 2 * pad) / resolution))
        h = int(math.ceil((y1 - y0 + 2 * pad) / resolution))
        occ = np.zeros((h, w), dtype=bool)
        grid = OccupancyGrid(occ, resolution, origin)
        for b in self.static_boxes():
            rasterize_box(grid, b)
        return grid

    def planning(self) -> Planning:
        """Clearance map, cost-to-go and reference path (computed once, then cached)."""
        if self._planning is None:
            self._planning = compute_planning(self)
        return self._planning

    def validate(self) -> None:
        """MapError when the start or goal is blocked / outside, or the goal is unreachable."""
        pl = self.planning()
        for name, pose in (("start", self.start), ("goal", self.goal)):
            x0, y0, x1, y1 = self.bounds
            if not (x0 <= pose.x <= x1 and y0 <= pose.y <= y1):
                raise MapError(f"{name} ({pose.x:.2f}, {pose.y:.2f}) is outside the map "
                               f"[{x0:.2f}, {x1:.2f}] x [{y0:.2f}, {y1:.2f}]")
            c = float(pl.lookup(pl.clearance, np.array([pose.x]), np.array([pose.y]), 0.0)[0])
            if c < PASS_CLEARANCE:
                raise MapError(f"{name} ({pose.x:.2f}, {pose.y:.2f}) is inside or too close to an obstacle "
                               f"(clearance {max(c, 0.0):.2f} m, the robot needs {PASS_CLEARANCE:.2f} m)")
        if not math.isfinite(pl.reference_length):
            raise MapError(f"goal ({self.goal.x:.2f}, {self.goal.y:.2f}) is unreachable from start "
                           f"({self.start.x:.2f}, {self.start.y:.2f}) for a robot needing "
                           f"{2 * PASS_CLEARANCE:.2f} m wide gaps")


def rasterize_box(grid: OccupancyGrid, b: Box) -> None:
    """Mark cells whose centre lies inside the (possibly rotated) box, inflated by half a cell."""
    res = grid.resolution
    if b.yaw == 0.0:     # axis-aligned (walls, traps, half the clutter): one slice, no per-cell maths
        h, w = grid.occupied.shape
        ox, oy = grid.origin
        c0 = max(math.ceil((b.x - b.half_x - res / 2 - ox) / res - 0.5 - 1e-9), 0)
        c1 = min(math.floor((b.x + b.half_x + res / 2 - ox) / res - 0.5 + 1e-9) + 1, w)
        r0 = max(math.ceil((b.y - b.half_y - res / 2 - oy) / res - 0.5 - 1e-9), 0)
        r1 = min(math.floor((b.y + b.half_y + res / 2 - oy) / res - 0.5 + 1e-9) + 1, h)
        if r0 < r1 and c0 < c1:
            grid.occupied[r0:r1, c0:c1] = True
        return
    ext = math.hypot(b.half_x, b.half_y) + res
    r0, c0 = grid.cell(b.x - ext, b.y - ext)
    r1, c1 = grid.cell(b.x + ext, b.y + ext)
    h, w = grid.occupied.shape
    r0, c0, r1, c1 = max(int(r0), 0), max(int(c0), 0), min(int(r1) + 1, h), min(int(c1) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return
    ys = grid.origin[1] + (np.arange(r0, r1) + 0.5) * res
    xs = grid.origin[0] + (np.arange(c0, c1) + 0.5) * res
    dx, dy = xs[None, :] - b.x, ys[:, None] - b.y
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    inside = (np.abs(lx) <= b.half_x + res / 2) & (np.abs(ly) <= b.half_y + res / 2)
    grid.occupied[r0:r1, c0:c1] |= inside


def boxes_from_grid(grid: OccupancyGrid) -> list[Box]:
    """Cover the occupied cells with few axis-aligned boxes (row runs merged with identical runs in
    the rows above). Used to put an occupancy map into PyBullet: fewer bodies = faster ray tests."""
    occ = np.asarray(grid.occupied, dtype=bool)
    res, (ox, oy) = grid.resolution, grid.origin
    open_runs: dict[tuple[int, int], int] = {}     # (c0, c1) -> first row
    boxes: list[Box] = []

    def close(c0: int, c1: int, r0: int, r1: int) -> None:
        boxes.append(Box(ox + (c0 + c1) / 2 * res, oy + (r0 + r1) / 2 * res, (c1 - c0) / 2 * res,
                         (r1 - r0) / 2 * res))

    for r in range(occ.shape[0] + 1):
        runs: set[tuple[int, int]] = set()
        if r < occ.shape[0]:
            row = np.concatenate([[False], occ[r], [False]])
            d = np.flatnonzero(np.diff(row.astype(np.int8)))
            runs = set(zip(d[0::2].tolist(), d[1::2].tolist()))
        for run in list(open_runs):
            if run not in runs:
                close(run[0], run[1], open_runs.pop(run), r)
        for run in runs:
            open_runs.setdefault(run, r)
    return boxes


def compute_planning(world: World, resolution: float = GRID_RESOLUTION) -> Planning:
    from scipy import ndimage
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    grid = world.occupancy(resolution)
    res = grid.resolution
    occ = grid.occupied
    # Distance from a free cell centre to the nearest occupied cell centre, minus half a cell: a
    # conservative distance to the obstacle surface.
    clearance = ndimage.distance_transform_edt(~occ) * res - res / 2
    clearance[occ] = 0.0
    if not world.walled:
        # Outside the bounds counts as blocked (leaving the map ends the episode).
        h, w = occ.shape
        ys = grid.origin[1] + (np.arange(h) + 0.5) * res
        xs = grid.origin[0] + (np.arange(w) + 0.5) * res
        x0, y0, x1, y1 = world.bounds
        edge = np.minimum.outer(np.minimum(ys - y0, y1 - ys), np.minimum(xs - x0, x1 - xs))
        clearance = np.minimum(clearance, np.maximum(edge, 0.0))
    h, w = occ.shape
    passable = clearance >= PASS_CLEARANCE
    # Node cost: 1 in comfortable space, up to 1 + 4 near obstacles (centres paths in gaps).
    # Below TIGHT_CLEARANCE the robot barely fits (cannot turn): much dearer, used only when needed.
    node = (1.0 + 4.0 * np.clip((COMFORT_CLEARANCE - clearance) / COMFORT_CLEARANCE, 0.0, 1.0)
            + 6.0 * np.clip((TIGHT_CLEARANCE - clearance) / 0.15, 0.0, 1.0))
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, wts = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        r_sl = slice(0, h - dr)
        ca = slice(max(0, -dc), w - max(0, dc))
        cb = slice(max(0, dc), w - max(0, -dc))
        a, b = idx[r_sl, ca], idx[dr:, cb]
        ok = passable[r_sl, ca] & passable[dr:, cb]
        if dr and dc:   # no corner cutting between two blocked cells
            ok &= passable[r_sl, cb] & passable[dr:, ca]
        step = res * math.hypot(dr, dc)
        wgt = step * 0.5 * (node[r_sl, ca] + node[dr:, cb])
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
        wts += [wgt[ok], wgt[ok]]
    graph = csr_matrix((np.concatenate(wts), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(h * w, h * w))
    gr, gc = grid.cell(world.goal.x, world.goal.y)
    gr, gc = int(np.clip(gr, 0, h - 1)), int(np.clip(gc, 0, w - 1))
    goal_idx = _nearest_passable(passable, gr, gc)
    if goal_idx is None:
        cost = np.full((h, w), np.inf)
        pred = None
    else:
        # Both edge directions are in the graph already: directed=True skips a CSC conversion.
        dist, pred = dijkstra(graph, directed=True, indices=goal_idx, return_predecessors=True)
        cost = dist.reshape(h, w)
    sr, sc = grid.cell(world.start.x, world.start.y)
    sr, sc = int(np.clip(sr, 0, h - 1)), int(np.clip(sc, 0, w - 1))
    path = [(world.start.x, world.start.y)]
    length = math.inf
    start_idx = _nearest_passable(passable, sr, sc)
    if pred is not None and start_idx is not None and math.isfinite(cost.flat[start_idx]):
        path += _follow_next_cells(pred, start_idx, grid, w, path[0], math.inf)[0]
        path.append((world.goal.x, world.goal.y))
        pts = np.asarray(path)
        length = float(np.sum(np.hypot(*np.diff(pts, axis=0).T)))
    return Planning(grid=grid, clearance=clearance, cost_to_go=cost, reference_path=np.asarray(path),
                    reference_length=length, next_cell=pred)


def _follow_next_cells(next_cell: np.ndarray, node: int, grid: "OccupancyGrid", width: int,
                       start: tuple[float, float], length: float) -> tuple[list[tuple[float, float]], int]:
    """Cell centres from flat cell `node` along `next_cell` towards the goal, until the goal cell has been
    added or `length` m (from `start`) are covered. Returns (centres, the node where the walk stopped:
    < 0 when it reached the goal)."""
    res, ox, oy = grid.resolution, grid.origin[0], grid.origin[1]
    pts: list[tuple[float, float]] = []
    last, travelled = start, 0.0
    while node >= 0 and travelled < length:
        r, c = divmod(int(node), width)
        p = (ox + (c + 0.5) * res, oy + (r + 0.5) * res)
        travelled += math.hypot(p[0] - last[0], p[1] - last[1])
        pts.append(p)
        last = p
        node = int(next_cell[node])
    return pts, node


def _nearest_passable(passable: np.ndarray, r: int, c: int, radius: int = 3) -> int | None:
    """The passable cell nearest (r, c) within `radius` cells (a start/goal near a wall snaps in)."""
    h, w = passable.shape
    best, best_d = None, math.inf
    for rr in range(max(r - radius, 0), min(r + radius + 1, h)):
        for cc in range(max(c - radius, 0), min(c + radius + 1, w)):
            if passable[rr, cc]:
                d = (rr - r) ** 2 + (cc - c) ** 2
                if d < best_d:
                    best, best_d = rr * w + cc, d
    return best


# ---- the difficulty ladder ---------------------------------------------------------------------
@dataclass(frozen=True)
class LevelSpec:
    """Parameters of one rung of the ladder (what the training curriculum climbs)."""
    size: float                          # square arena side, m
    n_boxes: int                         # random clutter boxes
    box_half: tuple[float, float]        # half extent range, m (quantised to 5 cm)
    n_gap_walls: int = 0                 # walls across the arena with one gap each
    gap: tuple[float, float] = (1.2, 1.6)  # gap width range, m
    n_traps: int = 0                     # U-shaped dead ends opening towards the start
    n_movers: int = 0
    mover_speed: tuple[float, float] = (0.3, 0.6)
    min_goal_dist: float = 6.0


LEVELS: tuple[LevelSpec, ...] = (
    LevelSpec(size=10.0, n_boxes=0, box_half=(0.2, 0.5)),                                    # 0 open
    LevelSpec(size=12.0, n_boxes=10, box_half=(0.15, 0.5)),                                  # 1 sparse
    LevelSpec(size=12.0, n_boxes=18, box_half=(0.15, 0.5), n_movers=1, mover_speed=(0.3, 0.6)),
    LevelSpec(size=14.0, n_boxes=22, box_half=(0.15, 0.6), n_gap_walls=1, gap=(1.1, 1.4), n_traps=1,
              n_movers=2, mover_speed=(0.4, 0.9)),
    LevelSpec(size=14.0, n_boxes=26, box_half=(0.15, 0.6), n_gap_walls=2, gap=(0.9, 1.2), n_traps=2,
              n_movers=3, mover_speed=(0.5, 1.2)),
    LevelSpec(size=16.0, n_boxes=30, box_half=(0.15, 0.6), n_gap_walls=2, gap=(0.8, 1.0), n_traps=3,
              n_movers=4, mover_speed=(0.8, 1.5)),                                             # 5 hardest
)
NUM_LEVELS = len(LEVELS)


def check_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= int(level) < NUM_LEVELS:
        raise InvalidLevel(f"level must be an integer in 0..{NUM_LEVELS - 1}, got {level!r}")
    return int(level)


def check_seed(seed: int, split: str | None) -> int:
    if split is None:
        return int(seed)
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    rng = SPLITS[split]
    if int(seed) not in rng:
        raise ConfigError(f"world seed {seed} is not in the {split} range [{rng.start}, {rng.stop})")
    return int(seed)


def _q(v: float, step: float = 0.05) -> float:
    """Quantise sizes so the PyBullet body pool can reuse shapes (shapes cannot be resized)."""
    return max(step, round(v / step) * step)


def generate(level: int, seed: int, max_tries: int = 50) -> World:
    """The procedural world for (level, seed): deterministic, start->goal reachable, start and goal
    clear, movers kept away from start and goal and off static obstacles."""
    level = check_level(level)
    spec = LEVELS[level]
    for attempt in range(max_tries):
        rng = np.random.default_rng([level, int(seed), attempt])
        world = _generate_once(spec, level, int(seed), rng)
        try:
            world.validate()
        except MapError:
            continue
        return world
    raise MapError(f"could not generate a solvable level-{level} world for seed {seed}")


def _generate_once(spec: LevelSpec, level: int, seed: int, rng: np.random.Generator) -> World:
    half = spec.size / 2
    bounds = (-half, -half, half, half)
    # Start on the left, goal on the right (random heights), random start heading.
    while True:
        sx, sy = -half + 1.0, rng.uniform(-half + 1.0, half - 1.0)
        gx, gy = half - 1.0, rng.uniform(-half + 1.0, half - 1.0)
        if math.hypot(gx - sx, gy - sy) >= spec.min_goal_dist:
            break
    start = Pose2D(sx, sy, float(rng.uniform(-math.pi, math.pi)) if level > 0 else math.atan2(gy - sy, gx - sx))
    goal = Pose2D(gx, gy, 0.0)
    keep_clear = [(sx, sy, 1.0), (gx, gy, 1.0)]

    def clear_of_ends(b: Box) -> bool:
        ext = math.hypot(b.half_x, b.half_y)
        return all(math.hypot(b.x - x, b.y - y) > r + ext for x, y, r in keep_clear)

    obstacles: list[Box] = []
    wall_xs: list[float] = []
    # Walls across the arena (between start and goal), each with one gap.
    for k in range(spec.n_gap_walls):
        wx = -half + spec.size * (k + 1) / (spec.n_gap_walls + 1) + rng.uniform(-0.5, 0.5)
        gap = _q(rng.uniform(*spec.gap))
        gc = rng.uniform(-half + 2.0 + gap / 2, half - 2.0 - gap / 2)   # no gaps squeezed into corners
        lo_len = _q(gc - gap / 2 + half, 0.2)          # quantised: wall bodies get reused
        hi_len = spec.size - gap - lo_len
        obstacles.append(Box(wx, -half + lo_len / 2, 0.1, lo_len / 2))
        obstacles.append(Box(wx, half - hi_len / 2, 0.1, hi_len / 2))
        keep_clear.append((wx, -half + lo_len + gap / 2, gap / 2 + 0.8))     # nothing blocks the gap
        wall_xs.append(wx)
    # U-shaped traps opening towards the start: greedy planners drive in and get stuck.
    for _ in range(spec.n_traps):
        for _try in range(20):
            tx, ty = rng.uniform(-half + 3.0, half - 2.5), rng.uniform(-half + 1.5, half - 1.5)
            depth, width = _q(rng.uniform(1.0, 1.6), 0.2), _q(rng.uniform(1.2, 1.8), 0.2)
            parts = [Box(tx + depth / 2, ty, 0.1, width / 2 + 0.1),            # back wall (goal side)
                     Box(tx, ty - width / 2, depth / 2, 0.1), Box(tx, ty + width / 2, depth / 2, 0.1)]
            if (all(clear_of_ends(p) and _inside(p, bounds) for p in parts)
                    and all(abs(tx - wx) > depth / 2 + 1.0 for wx in wall_xs)):
                obstacles += parts
                break
    # Movers next (their lanes are kept free of clutter), then random clutter.
    world = World(obstacles=obstacles, start=start, goal=goal, bounds=bounds, level=level, seed=seed,
                  name=f"nav-L{level}-s{seed}")
    if spec.n_movers:
        world.movers = _place_movers(world, spec, rng)

    def clear_of_lanes(b: Box) -> bool:
        ext = math.hypot(b.half_x, b.half_y)
        return all(_segment_distance(b.x, b.y, m.a, m.b) > m.radius + MOVER_ROOM + ext for m in world.movers)

    for _ in range(spec.n_boxes):
        for _try in range(20):
            b = Box(float(rng.uniform(-half + 0.3, half - 0.3)), float(rng.uniform(-half + 0.3, half - 0.3)),
                    _q(rng.uniform(*spec.box_half), 0.1), _q(rng.uniform(*spec.box_half), 0.1),
                    float(rng.choice([0.0, rng.uniform(-math.pi, math.pi)])))
            if clear_of_ends(b) and clear_of_lanes(b):
                obstacles.append(b)
                break
    world._planning = None
    return world


def _segment_distance(x: float | np.ndarray, y: float | np.ndarray, a: Sequence[float],
                      b: Sequence[float]) -> np.ndarray | float:
    """Distance from point(s) (x, y) to the segment a-b."""
    ux, uy = b[0] - a[0], b[1] - a[1]
    u2 = max(ux * ux + uy * uy, 1e-12)
    t = np.clip(((x - a[0]) * ux + (y - a[1]) * uy) / u2, 0.0, 1.0)
    return np.hypot(x - a[0] - t * ux, y - a[1] - t * uy)


def _inside(b: Box, bounds: Sequence[float], margin: float = 0.0) -> bool:
    ext = math.hypot(b.half_x, b.half_y)
    return (bounds[0] + margin <= b.x - ext and b.x + ext <= bounds[2] - margin
            and bounds[1] + margin <= b.y - ext and b.y + ext <= bounds[3] - margin)


_SEGMENT_SAMPLES = np.linspace(0.0, 1.0, 24)[:, None]
MOVER_CANDIDATES = 64
# Movers keep this much room from static obstacles, so the robot can always step aside.
MOVER_ROOM = 0.8


def _place_movers(world: World, spec: LevelSpec, rng: np.random.Generator) -> list[Mover]:
    """Movers cross the start-goal corridor on segments that keep MOVER_ROOM from static obstacles
    (a robot is never pinned against a wall) and at least 1.5 m (plus their size) from the start and
    the goal."""
    grid = world.occupancy()
    from scipy import ndimage
    clearance = ndimage.distance_transform_edt(~grid.occupied) * grid.resolution - grid.resolution / 2
    movers: list[Mover] = []
    sx, sy, gx, gy = world.start.x, world.start.y, world.goal.x, world.goal.y
    n = MOVER_CANDIDATES
    for _ in range(spec.n_movers):
        # Draw a batch of candidate segments and keep the first that fits (vectorised: generation
        # is part of every reset).
        half = np.round(rng.uniform(0.2, 0.3, n) / 0.05) * 0.05
        rad = np.hypot(half, half)
        t = rng.uniform(0.25, 0.75, n)
        cx = sx + t * (gx - sx) + rng.uniform(-2.5, 2.5, n)
        cy = sy + t * (gy - sy) + rng.uniform(-2.5, 2.5, n)
        ang = rng.uniform(0, math.pi, n)
        length = rng.uniform(2.5, 6.0, n)
        ax, ay = cx - np.cos(ang) * length / 2, cy - np.sin(ang) * length / 2
        bx, by = cx + np.cos(ang) * length / 2, cy + np.sin(ang) * length / 2
        px = ax[:, None] + _SEGMENT_SAMPLES[:, 0] * (bx - ax)[:, None]       # (n, samples)
        py = ay[:, None] + _SEGMENT_SAMPLES[:, 0] * (by - ay)[:, None]
        r, c = grid.cell(px, py)
        inside = grid.inside(r, c)
        clear = np.where(inside, clearance[np.clip(r, 0, grid.shape[0] - 1), np.clip(c, 0, grid.shape[1] - 1)], 0.0)
        ok = inside.all(axis=1) & (clear >= (rad + MOVER_ROOM)[:, None]).all(axis=1)
        d_ends = np.minimum(np.hypot(px - sx, py - sy).min(axis=1), np.hypot(px - gx, py - gy).min(axis=1))
        ok &= d_ends >= 1.5 + rad
        speed, phase = rng.uniform(*spec.mover_speed, n), rng.uniform(0.0, 1.0, n)
        if ok.any():
            i = int(np.argmax(ok))
            movers.append(Mover(float(half[i]), float(half[i]), (float(ax[i]), float(ay[i])),
                                (float(bx[i]), float(by[i])), float(speed[i]), float(phase[i])))
    return movers
