"""The sensor summary: the one function that turns what a robot really has (a 2D lidar scan with its
angle_min / angle_increment / range_max, odometry pose and twist, a goal) into the model's input.

The simulator calls `summarize` on its simulated scans and the ROS node calls it on real messages, so
what the model sees in training is what it sees on a robot.

Range conventions follow REP 117: NaN = invalid measurement, +inf = no return (free up to range_max),
-inf = object closer than range_min. Negative ranges are invalid; ranges above range_max are treated
as no return and counted as a problem. Problems are reported in `SensorSummary.problems`, never raised,
except for scans that cannot be interpreted at all (`SensorError`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from planner.config import require
from planner.errors import SensorError
from planner.vehicles import JACKAL, VehicleSpec

# Layout of SensorSummary.state (the non-lidar model input). Kept here, next to the code that fills it.
STATE_FIELDS = (
    "goal_dist",        # distance to goal / GOAL_DIST_SCALE, clipped to 1
    "goal_cos",         # cos(goal bearing in the robot frame)
    "goal_sin",         # sin(goal bearing)
    "v",                # current forward speed / max_speed
    "w",                # current yaw rate / max_yaw_rate
    "prev_v",           # previous command v / max_speed
    "prev_w",           # previous command w / max_yaw_rate
    "is_ackermann",     # 0 diff drive, 1 car-like
    "max_speed",        # vehicle max speed / 10 m/s
    "length",           # footprint length / 5 m
    "width",            # footprint width / 5 m
    "goal_near",        # 1 when the goal is closer than 1 m
)
STATE_DIM = len(STATE_FIELDS)
GOAL_DIST_SCALE = 10.0


@dataclass(frozen=True)
class SensingConfig:
    """What the model expects from the lidar. Scans of any resolution are min-pooled into sectors."""
    num_sectors: int = 64                 # lidar tokens' resolution (model input width)
    fov: float = 1.5 * math.pi            # field of view the model sees, centred on +x (270 deg)
    range_max: float = 8.0                # m; ranges are normalised by this and clipped
    min_valid_fraction: float = 0.8       # below this fraction of usable beams the scan is rejected
    max_fov_shortfall: float = 0.05       # rad; a scan may cover slightly less than fov
    min_beams_per_sector: float = 1.0     # scans coarser than the sectors are rejected
    lookahead: float = 2.5                # m; with a global path, the model's "goal" is the path point this
                                          # far ahead (carrot_on_path), as Nav2 controllers follow a plan
    motion_lookahead: float = 0.0         # s; moving hits (MotionTracker) are also drawn into the lidar input
                                          # where they will be up to this far ahead; 0 = current scan only.
                                          # Off: a model trained with 1.0 collided more on Nav L5 and stalled
                                          # on Drive L4 (docs/BENCHMARKS.md, session 3)
    motion_min_speed: float = 0.45        # m/s; ... if at least this fast (slower "motion" is mostly the
    motion_max_range: float = 4.0         # m;   tracker misreading static objects) and this close

    def validate(self) -> None:
        require(4 <= self.num_sectors <= 4096, "num_sectors must be in [4, 4096]")
        require(0 < self.fov <= 2 * math.pi + 1e-9, "fov must be in (0, 2*pi]")
        require(self.range_max > 0, "range_max must be positive")
        require(0 < self.min_valid_fraction <= 1, "min_valid_fraction must be in (0, 1]")
        require(0 < self.lookahead <= 100, "lookahead must be in (0, 100] m")
        require(0 <= self.motion_lookahead <= 5, "motion_lookahead must be in [0, 5] s")
        require(self.motion_min_speed >= 0, "motion_min_speed must be >= 0")
        require(self.motion_max_range > 0, "motion_max_range must be positive")

    @property
    def sector_edges(self) -> np.ndarray:
        return np.linspace(-self.fov / 2, self.fov / 2, self.num_sectors + 1)


# Each vehicle's sensing geometry: what its scenario family trained with (jackal: planner/Nav-v0 with
# SensingConfig()'s 8 m; car: planner/Drive-v0, 30 m roads seen over 270 degrees, an 8 m carrot, movers
# tracked to 15 m). A model card stores one SensingConfig (Nav's); a vehicle's fields below replace those
# fields of it, everything else (num_sectors, motion_lookahead, min_valid_fraction, ...) is the card's.
# The simulator (sim/drive_env.py DRIVE_SENSING) and the runtime (Planner.sensing_config, hence the ROS
# node) both take the car's config from here, so the model sees a car's scan as it did in training.
VEHICLE_SENSING: dict[str, dict[str, float]] = {
    "jackal": {},
    "car": {"fov": 1.5 * math.pi, "range_max": 30.0, "lookahead": 8.0, "motion_max_range": 15.0},
}


def vehicle_sensing(vehicle: str, base: SensingConfig | None = None) -> SensingConfig:
    """The SensingConfig a `vehicle` (planner.vehicles.VEHICLES key) was trained with: `base` (a model
    card's sensing; default SensingConfig()) with the vehicle's geometry from VEHICLE_SENSING."""
    require(vehicle in VEHICLE_SENSING, f"no sensing config for vehicle {vehicle!r} "
                                        f"(known: {sorted(VEHICLE_SENSING)})")
    cfg = replace(base if base is not None else SensingConfig(), **VEHICLE_SENSING[vehicle])
    cfg.validate()
    return cfg


@dataclass(frozen=True)
class Scan:
    """A 2D lidar scan as in sensor_msgs/LaserScan (angles in the laser frame)."""
    ranges: np.ndarray
    angle_min: float
    angle_increment: float
    range_min: float
    range_max: float
    stamp: float = 0.0
    frame_id: str = "base_link"


@dataclass(frozen=True)
class Pose2D:
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0


@dataclass(frozen=True)
class Twist2D:
    v: float = 0.0
    w: float = 0.0


@dataclass(frozen=True)
class SensorSummary:
    """The model's input plus what the verifier and the runtime need alongside it."""
    lidar: np.ndarray            # (num_sectors,) float32 in [0, 1]: min range per sector / range_max
    state: np.ndarray            # (STATE_DIM,) float32, see STATE_FIELDS
    points: np.ndarray           # (M, 2) float64 lidar hits in the robot frame (for the verifier)
    pose: Pose2D                 # robot pose in odom
    twist: Twist2D               # robot velocity
    goal: Pose2D                 # goal in odom
    goal_robot: tuple[float, float]   # goal (x, y) in the robot frame
    stamp: float                 # scan time, s
    vehicle: VehicleSpec = JACKAL
    valid_fraction: float = 1.0
    problems: tuple[str, ...] = field(default_factory=tuple)
    sensing: SensingConfig = SensingConfig()   # the config that built `lidar` (sectors, fov, range_max)

    @property
    def goal_distance(self) -> float:
        return math.hypot(*self.goal_robot)

    def lidar_unusable(self, min_valid_fraction: float) -> str:
        """Why the lidar cannot be trusted at this threshold ("" when it can)."""
        if self.valid_fraction >= min_valid_fraction:
            return ""
        detail = "; ".join(self.problems) or f"{100 * self.valid_fraction:.0f}% of beams usable"
        return f"lidar unusable: {detail}"

    def __eq__(self, other: object) -> bool:
        # Field-wise, with arrays compared by value (the generated __eq__ fails on arrays; Gymnasium's
        # check_env compares infos, which carry the summary).
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
                   for a, b in ((getattr(self, f), getattr(other, f)) for f in self.__dataclass_fields__))

    __hash__ = None   # mutable arrays inside: not hashable


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def clean_ranges(scan: Scan) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """REP 117 handling. Returns (ranges with no-returns at range_max, usable mask, problems)."""
    return _clean_ranges(scan)[:3]


def _clean_ranges(scan: Scan) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """clean_ranges, and whether every beam is usable."""
    r = np.asarray(scan.ranges, dtype=np.float64).reshape(-1)
    problems: list[str] = []
    # Every output is r itself, range_max or range_min (a selection, no arithmetic): the masks below are
    # the REP 117 cases, with NaN failing every comparison.
    if r.size and r.min() >= max(scan.range_min, 0.0) and not math.isnan(scan.range_max):
        # The usual scan: no NaN (min would be NaN), nothing negative or closer than range_min; only
        # no-returns (+inf) and ranges beyond range_max to clip.
        out = np.minimum(r, scan.range_max)
        if r.max() > scan.range_max:
            beyond = np.count_nonzero((r > scan.range_max) & (r != np.inf))
            if beyond:
                problems.append(f"{beyond} ranges beyond range_max")
        return out, np.ones(r.size, dtype=bool), problems, True
    nan = np.isnan(r)
    neg = (r < 0) & (r != -np.inf)                  # invalid (-inf is "too close": an object is there)
    usable = ~(nan | neg)
    too_close = (r == -np.inf) | ((r >= 0) & (r < scan.range_min))
    over = (r > scan.range_max) | (r == np.inf)     # no return (+inf) or beyond range_max
    out = np.where(usable & ~over, r, scan.range_max)
    # Closer than range_min: an object is right there; keep it as a hit at range_min (conservative).
    out[too_close] = max(scan.range_min, 0.0)
    if nan.any():
        problems.append(f"{int(nan.sum())} NaN ranges")
    if neg.any():
        problems.append(f"{int(neg.sum())} negative ranges")
    beyond = over & (r != np.inf)
    if beyond.any():
        problems.append(f"{int(beyond.sum())} ranges beyond range_max")
    return out, usable, problems, bool(usable.all())


def check_scan_shape(scan: Scan, cfg: SensingConfig) -> None:
    """Raise SensorError when the scan cannot be mapped onto the model's sectors."""
    n = np.asarray(scan.ranges).size
    for name in ("angle_min", "angle_increment", "range_min", "range_max"):
        if not math.isfinite(getattr(scan, name)):
            raise SensorError(f"scan {name} is not finite")
    if n < 2:
        raise SensorError(f"scan has {n} ranges")
    if scan.angle_increment <= 0:
        raise SensorError(f"scan angle_increment must be positive (got {scan.angle_increment})")
    if scan.range_max <= 0 or scan.range_min < 0 or scan.range_min >= scan.range_max:
        raise SensorError(f"scan range limits invalid (range_min={scan.range_min}, range_max={scan.range_max})")
    covered = scan.angle_increment * (n - 1)
    lo, hi = scan.angle_min, scan.angle_min + covered
    if covered < 2 * math.pi - 2 * scan.angle_increment - 1e-6:
        if lo > -cfg.fov / 2 + cfg.max_fov_shortfall or hi < cfg.fov / 2 - cfg.max_fov_shortfall:
            raise SensorError(f"scan covers [{math.degrees(lo):.1f}, {math.degrees(hi):.1f}] deg but the "
                              f"model needs +-{math.degrees(cfg.fov / 2):.1f} deg")
    beams_in_fov = n * min(1.0, cfg.fov / max(covered, 1e-9))
    if beams_in_fov < cfg.min_beams_per_sector * cfg.num_sectors * 0.99:
        raise SensorError(f"scan has {n} beams (~{beams_in_fov:.0f} in the model's field of view); "
                          f"the model needs at least {cfg.num_sectors}")


@dataclass(frozen=True, eq=False)
class _BeamGeometry:
    """What a scan's geometry (beam count, angles, limits, laser yaw) fixes for every scan that has it:
    computed on the first such scan, reused for the next ones (a lidar keeps its geometry)."""
    angles: np.ndarray           # (n,) wrapped beam bearings
    cos: np.ndarray              # (n,) cos / sin of them
    sin: np.ndarray
    in_fov: np.ndarray           # (n,) bool, beam centre inside the model's field of view
    n_fov: int
    fov_run: tuple[int, int] | None   # in-fov beams are exactly [a, b) with nondecreasing sectors (else None)
    fov_order: np.ndarray        # in-fov beams sorted by sector (stable)
    seg_starts: np.ndarray       # where each seen sector's run starts in fov_order
    seg_sectors: np.ndarray      # ... and which sector it is
    spill_near: np.ndarray       # (n,) bool, footprint (centre +- increment / 2) overlaps the field of view
    spill_idx: tuple[np.ndarray, np.ndarray]   # (n,) sector of each beam's footprint edges


_GEOMETRY: dict[tuple, _BeamGeometry] = {}


def _beam_geometry(scan: Scan, n: int, cfg: SensingConfig, laser_yaw: float) -> _BeamGeometry:
    key = (n, scan.angle_min, scan.angle_increment, scan.range_min, scan.range_max, laser_yaw, cfg.fov,
           cfg.num_sectors, cfg.max_fov_shortfall, cfg.min_beams_per_sector)
    geo = _GEOMETRY.get(key)
    if geo is not None:
        return geo
    check_scan_shape(scan, cfg)     # raises for a scan the model cannot read (never cached)
    angles = scan.angle_min + scan.angle_increment * np.arange(n) + laser_yaw
    angles = _wrap(angles)
    in_fov = np.abs(angles) <= cfg.fov / 2 + 1e-9
    idx = np.clip(((angles + cfg.fov / 2) / cfg.fov * cfg.num_sectors).astype(np.int64), 0,
                  cfg.num_sectors - 1)
    fov_beams = np.flatnonzero(in_fov)
    fov_order = fov_beams[np.argsort(idx[fov_beams], kind="stable")]
    sec = idx[fov_order]
    first = np.ones(sec.size, dtype=bool)
    first[1:] = sec[1:] != sec[:-1]
    seg_starts = np.flatnonzero(first)
    run = None
    if fov_beams.size and fov_beams[-1] - fov_beams[0] + 1 == fov_beams.size and np.all(np.diff(idx[fov_beams]) >= 0):
        run = (int(fov_beams[0]), int(fov_beams[-1]) + 1)
    half = 0.5 * scan.angle_increment
    spill_idx = tuple(np.clip(((angles + edge + cfg.fov / 2) / cfg.fov * cfg.num_sectors).astype(np.int64),
                              0, cfg.num_sectors - 1) for edge in (-half, half))
    geo = _BeamGeometry(angles=angles, cos=np.cos(angles), sin=np.sin(angles), in_fov=in_fov,
                        n_fov=int(fov_beams.size), fov_run=run, fov_order=fov_order, seg_starts=seg_starts,
                        seg_sectors=sec[seg_starts], spill_near=np.abs(angles) <= cfg.fov / 2 + half,
                        spill_idx=spill_idx)
    for value in (geo.angles, geo.cos, geo.sin, geo.in_fov, geo.fov_order, geo.seg_starts, geo.seg_sectors,
                  geo.spill_near, *geo.spill_idx):
        value.flags.writeable = False
    if len(_GEOMETRY) >= 32:          # a few lidars (or laser yaws) at most; never grows without bound
        _GEOMETRY.clear()
    _GEOMETRY[key] = geo
    return geo


def scan_to_sectors(scan: Scan, cfg: SensingConfig,
                    laser_yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray, float, list[str]]:
    """Min-pool a scan into cfg.num_sectors normalised ranges.

    Returns (sectors (num_sectors,) float32 in [0, 1], hit points (M, 2) in the laser frame rotated by
    laser_yaw, valid fraction, problems). A sector without any usable beam is set to 0 (blocked):
    unknown space is treated as occupied. The beam geometry (bearings, their sectors, cos / sin) is
    computed once per scan geometry (`_beam_geometry`); the results are those of computing it per scan.
    """
    n = np.asarray(scan.ranges).size
    geo = _beam_geometry(scan, n, cfg, laser_yaw)
    r, usable, problems, all_usable = _clean_ranges(scan)
    if all_usable or (geo.fov_run is not None and geo.n_fov == n):
        n_usable = geo.n_fov if all_usable else int(np.count_nonzero(usable))
    else:
        n_usable = int(np.count_nonzero(usable[geo.in_fov]))
    valid_fraction = n_usable / geo.n_fov if geo.n_fov else 0.0      # the mean of usable over the fov
    rng = np.minimum(r, cfg.range_max)
    # Min per sector over the usable in-fov beams (min is exact: any order gives the same result).
    masked = rng if all_usable else np.where(usable, rng, np.inf)
    if geo.fov_run is not None:
        vals = masked[geo.fov_run[0]:geo.fov_run[1]]
    else:
        vals = masked[geo.fov_order]
    sectors = np.full(cfg.num_sectors, np.inf)
    if vals.size:
        sectors[geo.seg_sectors] = np.minimum.reduceat(vals, geo.seg_starts)
    empty = ~np.isfinite(sectors)
    if empty.any():
        # A scan about as coarse as the sectors (e.g. 64 beams for 64 sectors, or float32 angles) can
        # leave a sector without a beam centre in it. Fill it from the beams whose angular footprint
        # (centre +- increment/2) overlaps it; only what no beam sees at all counts as blocked.
        near = usable & geo.spill_near
        spill = np.full(cfg.num_sectors, np.inf)
        for j in geo.spill_idx:
            np.minimum.at(spill, j[near], rng[near])
        sectors[empty] = spill[empty]
        empty = ~np.isfinite(sectors)
    if empty.any():
        problems.append(f"{int(empty.sum())} sectors without a usable beam (treated as blocked)")
        sectors[empty] = 0.0
    hit = r < scan.range_max - 1e-6
    if not all_usable:
        hit &= usable
    r_hit = r[hit]
    pts = np.empty((r_hit.size, 2))
    np.multiply(r_hit, geo.cos[hit], out=pts[:, 0])
    np.multiply(r_hit, geo.sin[hit], out=pts[:, 1])
    return (sectors / cfg.range_max).astype(np.float32), pts, valid_fraction, problems


def summarize(scan: Scan, pose: Pose2D, twist: Twist2D, goal: Pose2D, *,
              prev_cmd: Twist2D = Twist2D(), vehicle: VehicleSpec = JACKAL,
              cfg: SensingConfig = SensingConfig(), laser_pose: Pose2D = Pose2D()) -> SensorSummary:
    """Build the model input from a scan, odometry (pose + twist in odom), the goal (in odom) and the
    previous command. `laser_pose` is the lidar's mounting pose in the robot frame (base_link).

    Raises SensorError only when the scan cannot be interpreted (shape / field of view / limits);
    softer problems (NaN beams, ranges beyond range_max) are listed in `problems`, and a scan with too
    few usable beams is listed there too so the runtime can stop the robot and say why.
    """
    for name, val in (("pose", (pose.x, pose.y, pose.yaw)), ("twist", (twist.v, twist.w)),
                      ("goal", (goal.x, goal.y))):
        if not all(math.isfinite(v) for v in val):
            raise SensorError(f"{name} is not finite: {val}")
    sectors, pts, valid_fraction, problems = scan_to_sectors(scan, cfg, laser_pose.yaw)
    if laser_pose.x or laser_pose.y:
        pts = pts + np.array([laser_pose.x, laser_pose.y])
    if valid_fraction < cfg.min_valid_fraction:
        problems.append(f"only {100 * valid_fraction:.0f}% of beams usable "
                        f"(need {100 * cfg.min_valid_fraction:.0f}%)")
    dx, dy = goal.x - pose.x, goal.y - pose.y
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    gx, gy = c * dx + s * dy, -s * dx + c * dy
    dist = math.hypot(gx, gy)
    bearing = math.atan2(gy, gx)
    max_w = vehicle.max_yaw_rate
    state = np.array([
        min(dist / GOAL_DIST_SCALE, 1.0), math.cos(bearing), math.sin(bearing),
        np.clip(twist.v / vehicle.max_speed, -1, 1), np.clip(twist.w / max_w, -1, 1),
        np.clip(prev_cmd.v / vehicle.max_speed, -1, 1), np.clip(prev_cmd.w / max_w, -1, 1),
        1.0 if vehicle.kind == "ackermann" else 0.0, vehicle.max_speed / 10.0,
        vehicle.length / 5.0, vehicle.width / 5.0, 1.0 if dist < 1.0 else 0.0,
    ], dtype=np.float32)
    return SensorSummary(lidar=sectors, state=state, points=pts, pose=pose, twist=twist, goal=goal,
                         goal_robot=(gx, gy), stamp=scan.stamp, vehicle=vehicle,
                         valid_fraction=valid_fraction, problems=tuple(problems), sensing=cfg)


def carrot_on_path(path: np.ndarray, pose: Pose2D, lookahead: float) -> Pose2D:
    """The local goal the model steers to when a global path is given: from the path point nearest the
    robot, walk `lookahead` metres further along the path (the path's last point if it ends sooner).

    `path` is (N, 2) x, y in the odom frame, first point near the robot or behind it, last point the
    goal. The simulator (a path replanned on the static map every step) and the ROS node (a
    nav_msgs/Path from the global planner) both call this, so the model sees the same kind of goal.
    """
    pts = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise SensorError("global path is empty or not finite")
    if len(pts) == 1:
        return Pose2D(float(pts[0, 0]), float(pts[0, 1]))
    seg = np.diff(pts, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    # Nearest point on the polyline: project the robot on every segment.
    rel = np.array([pose.x, pose.y]) - pts[:-1]
    t = np.clip(np.einsum("ij,ij->i", rel, seg) / np.maximum(seg_len ** 2, 1e-12), 0.0, 1.0)
    proj = pts[:-1] + t[:, None] * seg
    i = int(np.argmin(np.hypot(*(proj - [pose.x, pose.y]).T)))
    remaining = lookahead + t[i] * seg_len[i]     # measured from the start of segment i
    for j in range(i, len(seg)):
        if remaining <= seg_len[j]:
            f = remaining / max(seg_len[j], 1e-12)
            x, y = pts[j] + f * seg[j]
            return Pose2D(float(x), float(y))
        remaining -= seg_len[j]
    return Pose2D(float(pts[-1, 0]), float(pts[-1, 1]))


MOTION_SAMPLES = 4     # predicted positions per moving hit, evenly spaced over motion_lookahead


def with_predicted_motion(summary: SensorSummary, velocity: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """The model's lidar input with moving obstacles drawn where they are going: every moving hit
    (velocities from `planner.verifier.MotionTracker`, robot frame) at least motion_min_speed fast and
    within motion_max_range is added at MOTION_SAMPLES times up to motion_lookahead s ahead, min-pooled
    into the summary's own sectors (all settings from summary.sensing, what built it). A single scan cannot tell
    a box crossing the robot's path from a parked one; this way the model sees the space a mover is
    about to take as blocked, as the privileged expert it imitates knows it will be.

    Measured on Nav-v0 VAL worlds with the expert driving (4 episodes per level): a mover within 4 m is
    drawn on 88% of the steps it is visible (level 5); the tracker's false motion on static objects is
    drawn on 2.7% of level 1's steps (21% without the speed and range limits).
    Bearings are taken from the robot's origin (the scan's own sectors from the laser's); they coincide
    when the laser sits on the robot's vertical axis, as in the simulator.
    """
    lidar = np.asarray(summary.lidar, dtype=np.float32)
    cfg = summary.sensing
    if cfg.motion_lookahead <= 0 or not np.any(moving):
        return lidar
    pts = np.asarray(summary.points, dtype=np.float64)
    vel = np.asarray(velocity, dtype=np.float64)
    moving = moving & (np.einsum("ij,ij->i", vel, vel) >= cfg.motion_min_speed ** 2) & \
        (np.einsum("ij,ij->i", pts, pts) <= cfg.motion_max_range ** 2)
    if not moving.any() or lidar.shape != (cfg.num_sectors,):
        return lidar
    pts, vel = pts[moving], vel[moving]
    times = cfg.motion_lookahead * np.arange(1, MOTION_SAMPLES + 1) / MOTION_SAMPLES
    future = (pts[None] + vel[None] * times[:, None, None]).reshape(-1, 2)
    rng = np.hypot(future[:, 0], future[:, 1])
    ang = np.arctan2(future[:, 1], future[:, 0])
    sel = np.abs(ang) <= cfg.fov / 2
    if not sel.any():
        return lidar
    idx = np.clip(((ang[sel] + cfg.fov / 2) / cfg.fov * cfg.num_sectors).astype(np.int64), 0,
                  cfg.num_sectors - 1)
    out = lidar.copy()
    np.minimum.at(out, idx, (np.minimum(rng[sel], cfg.range_max) / cfg.range_max).astype(np.float32))
    return out


class ModelInput:
    """What the model is fed, built the same way in the simulator, the runtime and the baselines: the
    summary's lidar with predicted motion (`with_predicted_motion`) from the planner's own memory of its
    recent scans. Stateful: call `reset()` when a new episode starts or the robot is moved.

        model_input = ModelInput(draw_motion=card_sensing.motion_lookahead > 0)   # the model card's SensingConfig
        lidar, motion = model_input(summary)      # motion: planner.verifier.Motion (None if not tracked)
    """

    def __init__(self, draw_motion: bool, tracker_cfg=None):
        """draw_motion: whether the model was trained with predicted motion (model cards written before
        it existed were not); how it is drawn follows each summary's SensingConfig."""
        from planner.verifier import MotionTracker, VerifierConfig   # verifier imports this module
        self.draw_motion = draw_motion
        self.tracker = MotionTracker(tracker_cfg or VerifierConfig())

    def reset(self) -> None:
        self.tracker.reset()

    def __call__(self, summary: SensorSummary, track: bool = True):
        """(lidar (num_sectors,) float32, Motion or None). Tracks when the model needs it
        (draw_motion) or the caller does (`track`, e.g. for the verifier)."""
        if not (track or self.draw_motion):
            return np.asarray(summary.lidar, dtype=np.float32), None
        motion = self.tracker.update(summary)
        if not self.draw_motion:
            return np.asarray(summary.lidar, dtype=np.float32), motion
        return with_predicted_motion(summary, motion.velocity, motion.moving), motion
