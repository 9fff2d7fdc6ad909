"""The PyBullet scene shared by the Gymnasium environments: obstacles as boxes, a kinematic robot body,
a 2D lidar by `rayTestBatch`, collision checks, moving obstacles, and a top-down rgb_array renderer.

Speed matters (thousands of env steps per second), so:
- bodies are created once and then MOVED (`resetBasePositionAndOrientation`, ~1 us); a new world
  takes bodies from a pool keyed by box size and parks the unused ones far below the floor
  (`resetSimulation` + reload costs 20-36 ms; `saveState` leaks memory, bullet3 #3248; creating a
  body costs ~0.3 ms); the pool is trimmed to MAX_PARKED parked bodies, since every body, parked or
  not, adds to the per-query bounding-box refresh; procedural sizes are quantised so shapes repeat;
- obstacles are boxes (ray tests against cylinders are ~12x slower), each built as a 12-triangle
  mesh (Bullet ray-casts triangles ~3x faster than it convex-casts a box shape);
- the robot is kinematic: its pose is integrated in Python at the control rate and the body is moved;
  PyBullet never steps physics, it answers ray casts and contact queries only.

Heights: obstacles span z in [0, 1] m, the robot body z in [0, 0.4] m, the lidar scans at z = 0.6 m,
so the lidar never sees the robot's own body.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.config import require
from planner.sensing import Pose2D, Scan
from planner.vehicles import VehicleSpec
from sim.worlds import OBSTACLE_HEIGHT, Box, World

LIDAR_Z = 0.6
ROBOT_HEIGHT = 0.4
PARK_Z = -100.0
MAX_PARKED = 400


@dataclass(frozen=True)
class LidarConfig:
    """The simulated 2D lidar, published like a sensor_msgs/LaserScan: `beams` rays from
    angle_min = -fov/2 to angle_max = +fov/2 (inclusive), ranges in [range_min, range_max].
    No return is +inf (REP 117). `noise_std` is Gaussian range noise in m, `dropout` the probability
    that a beam returns NaN (invalid)."""
    beams: int = 64
    fov: float = 1.5 * math.pi
    range_min: float = 0.05
    range_max: float = 8.0
    noise_std: float = 0.01
    dropout: float = 0.0

    def validate(self) -> None:
        require(2 <= self.beams <= 4096, "lidar.beams must be in [2, 4096]")
        require(0 < self.fov <= 2 * math.pi, "lidar.fov must be in (0, 2*pi]")
        require(0 <= self.range_min < self.range_max, "lidar needs 0 <= range_min < range_max")
        require(self.noise_std >= 0, "lidar.noise_std must be >= 0")
        require(0 <= self.dropout < 1, "lidar.dropout must be in [0, 1)")

    @property
    def angle_increment(self) -> float:
        if self.fov >= 2 * math.pi - 1e-9:      # full circle: do not duplicate the first beam
            return self.fov / self.beams
        return self.fov / (self.beams - 1)

    @property
    def angles(self) -> np.ndarray:
        return -self.fov / 2 + self.angle_increment * np.arange(self.beams)


# The 12 triangles of a box whose vertices 0-3 are the bottom and 4-7 the top corners, counter-
# clockwise from (+x, +y).
_BOX_FACES = ((0, 1, 2), (0, 2, 3), (4, 6, 5), (4, 7, 6), (0, 4, 5), (0, 5, 1), (1, 5, 6), (1, 6, 2),
              (2, 6, 7), (2, 7, 3), (3, 7, 4), (3, 4, 0))


def _quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


class Scene:
    """One PyBullet DIRECT client holding the robot, a pool of box bodies and the current world."""

    def __init__(self, vehicle: VehicleSpec, lidar: LidarConfig = LidarConfig()):
        import pybullet as p
        self._p = p
        self.vehicle = vehicle
        self.lidar = lidar
        self.cid = p.connect(p.DIRECT)
        # A dynamic body (mass 1) so that contacts with static obstacles are reported; physics is never
        # stepped, so it never moves by itself.
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=[vehicle.length / 2, vehicle.width / 2,
                                                                 ROBOT_HEIGHT / 2], physicsClientId=self.cid)
        self.robot = p.createMultiBody(1.0, shape, -1, [0, 0, ROBOT_HEIGHT / 2], physicsClientId=self.cid)
        self._shapes: dict[tuple[int, int], int] = {}
        self._free: dict[tuple[int, int], list[int]] = {}
        self._used: list[tuple[tuple[int, int], int]] = []
        self._n_parked = 0
        self.world: World | None = None
        self.mover_bodies: list[int] = []
        self.static_count = 0
        self._set_lidar_rays()

    # ---- bodies ------------------------------------------------------------------------------
    def _set_lidar_rays(self) -> None:
        a = self.lidar.angles
        self._cos, self._sin = np.cos(a), np.sin(a)
        self._from = np.zeros((a.size, 3))
        self._to = np.zeros((a.size, 3))
        self._from[:, 2] = self._to[:, 2] = LIDAR_Z

    def _box_shape(self, half_x: float, half_y: float) -> int:
        """A box as a 12-triangle static mesh: the same geometry as GEOM_BOX, but Bullet ray-casts a
        triangle mesh ~3x faster than it runs its convex cast against a box (64 beams in a level-4
        world: ~50 vs ~145 us). Shapes are cached per size and never removed (pybullet does not
        free a removed mesh shape). A mesh has no inside: a robot that jumped wholly into a box in
        one control period would not touch it -- impossible at Nav speeds (0.1 m per step)."""
        p = self._p
        hx, hy, hz = half_x, half_y, OBSTACLE_HEIGHT / 2
        vertices = [[sx * hx, sy * hy, sz * hz] for sz in (-1, 1) for sx, sy in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
        indices = [i for face in _BOX_FACES for i in face]
        return p.createCollisionShape(p.GEOM_MESH, vertices=vertices, indices=indices,
                                      flags=p.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=self.cid)

    def _take_body(self, half_x: float, half_y: float) -> int:
        key = (int(round(half_x * 1000)), int(round(half_y * 1000)))
        free = self._free.setdefault(key, [])
        if free:
            body = free.pop()
        else:
            p = self._p
            if key not in self._shapes:
                self._shapes[key] = self._box_shape(key[0] / 1000, key[1] / 1000)
            body = p.createMultiBody(0.0, self._shapes[key], -1, [0, 0, PARK_Z], physicsClientId=self.cid)
        self._used.append((key, body))
        return body

    def _place(self, body: int, x: float, y: float, yaw: float) -> None:
        self._p.resetBasePositionAndOrientation(body, [x, y, OBSTACLE_HEIGHT / 2], _quat(yaw),
                                                physicsClientId=self.cid)

    def load(self, world: World) -> None:
        """Show `world`: reuse pooled bodies (moved into place), park the rest."""
        p = self._p
        for k, (key, body) in enumerate(self._used):
            p.resetBasePositionAndOrientation(body, [3.0 * k, 0, PARK_Z], _quat(0.0), physicsClientId=self.cid)
            self._free[key].append(body)
        self._used = []
        self._trim_pool(world)
        statics = world.static_boxes()
        for b in statics:
            self._place(self._take_body(b.half_x, b.half_y), b.x, b.y, b.yaw)
        self.mover_bodies = [self._take_body(m.half_x, m.half_y) for m in world.movers]
        self.static_count = len(statics)
        self.world = world
        self.move_movers(0.0)

    def _trim_pool(self, world: World) -> None:
        """Parked bodies cost a little per collision query (Bullet refreshes every bounding box), and
        pybullet leaks a few KB per removed body, so the pool is only trimmed past MAX_PARKED parked
        bodies (procedural sizes are quantised: the Nav pool settles near 330 bodies, never trimmed)."""
        parked = sum(len(v) for v in self._free.values())
        if parked <= MAX_PARKED:
            return
        keep = {(int(round(b.half_x * 1000)), int(round(b.half_y * 1000))) for b in world.static_boxes()}
        keep |= {(int(round(m.half_x * 1000)), int(round(m.half_y * 1000))) for m in world.movers}
        for key in list(self._free):
            if key not in keep:
                for body in self._free.pop(key):
                    self._p.removeBody(body, physicsClientId=self.cid)

    @property
    def num_bodies(self) -> int:
        """Obstacle bodies in the pool (shown + parked)."""
        return len(self._used) + sum(len(v) for v in self._free.values())

    def move_movers(self, t: float) -> None:
        if self.world is None:
            return
        for m, body in zip(self.world.movers, self.mover_bodies):
            x, y = m.position(t)
            self._place(body, x, y, m.yaw)

    def set_robot(self, x: float, y: float, yaw: float) -> None:
        self._p.resetBasePositionAndOrientation(self.robot, [x, y, ROBOT_HEIGHT / 2], _quat(yaw),
                                                physicsClientId=self.cid)

    # ---- queries -----------------------------------------------------------------------------
    def in_collision(self) -> bool:
        """True when the robot's footprint box touches or overlaps any obstacle (PyBullet contacts)."""
        p = self._p
        p.performCollisionDetection(physicsClientId=self.cid)
        for c in p.getContactPoints(bodyA=self.robot, physicsClientId=self.cid):
            if c[8] < 1e-3:    # contact distance (negative = penetration)
                return True
        return False

    def ray_ranges(self, x: float, y: float, yaw: float) -> np.ndarray:
        """Noise-free ranges of the lidar at pose (x, y, yaw); +inf where nothing is hit."""
        lc = self.lidar
        c, s = math.cos(yaw), math.sin(yaw)
        dx = c * self._cos - s * self._sin
        dy = s * self._cos + c * self._sin
        self._from[:, 0] = x
        self._from[:, 1] = y
        self._to[:, 0] = x + lc.range_max * dx
        self._to[:, 1] = y + lc.range_max * dy
        hits = self._p.rayTestBatch(self._from, self._to, physicsClientId=self.cid)
        frac = np.array([h[2] for h in hits])          # 1.0 where nothing was hit
        ranges = frac * lc.range_max
        ranges[frac >= 1.0] = np.inf
        return ranges

    def scan(self, x: float, y: float, yaw: float, rng: np.random.Generator | None = None,
             stamp: float = 0.0) -> Scan:
        """A LaserScan-like `Scan` at the robot pose, with noise and dropout drawn from `rng`."""
        return make_scan(self.ray_ranges(x, y, yaw), self.lidar, rng, stamp)

    def close(self) -> None:
        if self.cid is not None and self._p.isConnected(self.cid):
            self._p.disconnect(self.cid)
        self.cid = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def make_scan(raw: np.ndarray, lc: LidarConfig, rng: np.random.Generator | None, stamp: float = 0.0) -> Scan:
    """Noise-free ranges -> the `Scan` a driver would publish: Gaussian noise on returns (clipped to
    [range_min, range_max]), NaN for dropped beams, +inf for no return."""
    r = np.array(raw, dtype=np.float64)
    if rng is not None and lc.noise_std > 0:
        finite = np.isfinite(r)
        r[finite] = np.clip(r[finite] + rng.normal(0.0, lc.noise_std, int(finite.sum())), lc.range_min,
                            lc.range_max)
    if rng is not None and lc.dropout > 0:
        r[rng.random(r.size) < lc.dropout] = np.nan
    return Scan(ranges=r.astype(np.float32), angle_min=-lc.fov / 2, angle_increment=lc.angle_increment,
                range_min=lc.range_min, range_max=lc.range_max, stamp=stamp, frame_id="base_link")


def footprint_extent(vehicle: VehicleSpec, angles: np.ndarray) -> np.ndarray:
    """Distance from the robot centre to its rectangular footprint's edge along each beam angle."""
    hx, hy = vehicle.length / 2, vehicle.width / 2
    c, s = np.abs(np.cos(angles)), np.abs(np.sin(angles))
    with np.errstate(divide="ignore"):
        return np.minimum(np.where(c > 1e-9, hx / c, np.inf), np.where(s > 1e-9, hy / s, np.inf))


# ---- top-down rendering ----------------------------------------------------------------------
def render_topdown(world: World, pose: Pose2D, vehicle: VehicleSpec, *, t: float = 0.0,
                   trail: np.ndarray | None = None, scan_points: np.ndarray | None = None,
                   plan: np.ndarray | None = None, px_per_m: float = 30.0) -> np.ndarray:
    """An (H, W, 3) uint8 top-down image: static obstacles (grey), movers at time t (orange), goal
    (green), the path taken (`trail`, blue), lidar hits in the robot frame (red), a planned path in
    odom (`plan`, magenta) and the robot footprint (dark blue)."""
    from PIL import Image, ImageDraw
    x0, y0, x1, y1 = world.bounds
    m = 0.5
    w, h = int((x1 - x0 + 2 * m) * px_per_m), int((y1 - y0 + 2 * m) * px_per_m)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)

    def px(x: float, y: float) -> tuple[float, float]:
        return ((x - x0 + m) * px_per_m, h - (y - y0 + m) * px_per_m)

    def box(b: Box | tuple, fill: tuple[int, int, int]) -> None:
        x, y, hx, hy, yaw = b if isinstance(b, tuple) else (b.x, b.y, b.half_x, b.half_y, b.yaw)
        c, s = math.cos(yaw), math.sin(yaw)
        corners = [(x + c * ax - s * ay, y + s * ax + c * ay) for ax, ay in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))]
        d.polygon([px(*q) for q in corners], fill=fill)

    for b in world.static_boxes():      # ROS maps too: their occupied cells are merged into boxes
        box(b, (90, 90, 90))
    for mv in world.movers:
        mx, my = mv.positions(t)
        d.line([px(*mv.a), px(*mv.b)], fill=(255, 210, 160), width=1)
        box((float(mx), float(my), mv.half_x, mv.half_y, mv.yaw), (240, 140, 30))
    gx, gy = px(world.goal.x, world.goal.y)
    r = 0.3 * px_per_m
    d.ellipse([gx - r, gy - r, gx + r, gy + r], outline=(0, 160, 0), width=3)
    if trail is not None and len(trail) > 1:
        d.line([px(float(a), float(b)) for a, b in np.asarray(trail)[:, :2]], fill=(40, 90, 230), width=2)
    if plan is not None and len(plan) > 1:
        d.line([px(float(a), float(b)) for a, b in np.asarray(plan)[:, :2]], fill=(200, 0, 200), width=2)
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    if scan_points is not None and len(scan_points):
        for qx, qy in np.asarray(scan_points):
            X, Y = px(pose.x + c * qx - s * qy, pose.y + s * qx + c * qy)
            d.rectangle([X - 1, Y - 1, X + 1, Y + 1], fill=(220, 30, 30))
    box((pose.x, pose.y, vehicle.length / 2, vehicle.width / 2, pose.yaw), (20, 40, 120))
    hx, hy = px(pose.x + c * vehicle.length / 2, pose.y + s * vehicle.length / 2)
    X, Y = px(pose.x, pose.y)
    d.line([X, Y, hx, hy], fill=(255, 255, 255), width=2)
    return np.asarray(img, dtype=np.uint8)
