"""The verifier: sweep a motion primitive's footprint against the lidar points, static and moving.

A command is safe when two kinds of swept path clear every lidar hit by `safety_margin`:
- the look-ahead: holding the command for the horizon, then braking to a stop on the curvature it
  ends with (what lies ahead);
- the fallback's stops: holding it for 1, 2, ... control periods up to `commit_time` (the next
  decision, or the one after a late one), then commanding (0, 0) -- exactly what a stop does, from
  wherever the command got us. Checking these at every decision keeps a clear stop available at the
  next one; the look-ahead alone did not (a diff-drive robot braking from an arc loses its yaw rate
  three times faster than its speed, so it runs straighter than the arc that was checked; a car keeps
  its steering).
Kinematics are integrated every `control_period` the way a base holding each command for one period
moves (speed and yaw rate -- or the car's rate-limited steering angle -- approach their targets at the
vehicle's limits; end-of-step speed, mid-step heading: the simulator's scheme, so a stop from 2 m/s
takes its 0.95 m; the old 0.2 s integration said 0.8 m). Footprints are swept every `sweep_step`.

Moving obstacles: `MotionTracker` (kept by the runtime across decisions: the planner's own memory of
its earlier scans and odometry, nothing else) finds lidar hits where an earlier scan saw free space,
groups them into objects, and estimates each object's velocity by matching it to the scans 0.1, 0.2,
0.3 and 0.4 s older: the least-squares slope of those shifts, the newest ones alone when the object has
turned, blended with its previous estimate when the two agree (`motion_fit`; with a perfect velocity most
remaining Nav collisions go away, docs/BENCHMARKS.md "Session 16").
The sweep places those hits where they will be at each swept pose's time (up to `motion_horizon`),
their clearance shrinking by `motion_uncertainty` x time. When nothing is safe and even stopping is
not (something is coming), the command meeting the moving hits latest among those clear of every
static hit is sent instead of a stop, if it is clearly later than stopping's.

`Verifier.verify` checks the network's choice first (the common, cheap case); a colliding choice is
replaced by the best-scoring safe alternative (the model's own ranking: progress, not a stop), and
only if nothing is safe is the decision a controlled stop. `Verifier.sweep` (the look-ahead) serves
the DWA baseline.

Cars (ackermann) get a second way to pass, as a car really drives: both (a) holding the command's
steering for `car_commit_time` and then braking to a stop on that curvature, and (b) holding it that
long, steering back to straight at the same speed to the horizon's end and then braking, clear every
lidar hit by `car_margin` (so also the guard rails, 0.8 m outside the paved edge on Drive-v0). Without
this, a full-lock command held for the 2 s horizon plus braking is a U-turn into the rail: every lane
change was corrected to straight on and the car queued behind the first parked car until timeout
(docs/BENCHMARKS.md, "Drive stall"). The fallback's stops must still be clear.

Limits, by design: it knows only what the scans show. Space outside the lidar's field of view (behind
a 270-degree scanner) is not modelled; an obstacle's velocity comes from scans 0.1-0.4 s apart and is
extrapolated in a straight line; a scan with too few usable beams is not trusted (stop, with the reason).
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from planner.config import require
from planner.errors import ConfigError
from planner.sensing import SensorSummary
from planner.vehicles import NUM_PRIMITIVES, STOP, VehicleSpec, primitive_table


@dataclass(frozen=True)
class VerifierConfig:
    horizon: float = 2.0            # s swept ahead (the local path's length in time)
    dt: float = 0.2                 # s between the returned path's poses; vehicle must move less than its length per dt
    safety_margin: float = 0.05     # m; a primitive is safe when its clearance exceeds this
    braking: bool = True            # also sweep the stopping distance at the end of the horizon
    clearance_cap: float = 1.0      # m; clearances are reported up to this (points beyond are ignored)
    min_valid_fraction: float = 0.8  # below this fraction of usable beams: stop, the scan is not trusted
    batch: int = 8                  # alternatives checked per batch when the choice collides
    car_commit_time: float = 0.5    # s; ackermann: also safe if held this long then braking is clear; 0 = off
    car_margin: float = 0.85        # m; clearance the commit-then-brake check requires (Drive's guard
                                    # rails stand 0.8 m outside the paved edge; the lidar sees the rails)
    sweep_step: float = 0.1         # s between swept footprints (>= control_period; a car: up to 0.4 of
                                    # its length at full speed)
    control_period: float = 0.05    # s a command is held by the base (20 Hz); kinematics integrate at it
                                    # (or finer: it is shortened to divide dt)
    commit_time: float = 0.1        # s a command is held before a stop can take over (2 control periods
                                    # at 20 Hz: one late decision); 0 = do not check the fallback's path
    track_motion: bool = True       # estimate moving obstacles' velocities from the planner's earlier scans
    motion_window: float = 0.4      # s between the two scans compared
    motion_fit: float = 0.4         # m/s; velocity = least-squares fit of the object's shifts against the
                                    # scans 1-4 quarter windows old, the newer half's alone when it differs by
                                    # more than this (a turn); 0 = the longest baseline alone (sessions 1-15)
    motion_flip_speed: float = 0.5  # m/s; with motion_fit: the newest pair alone when it moves the object the
                                    # opposite way, faster than this (a turn seen at once); 0 = off
    motion_smoothing: float = 0.5   # weight of an object's previous velocity (its track's) in the new one, when
                                    # they differ by less than motion_smoothing_gate; 0 = off
    motion_smoothing_gate: float = 0.6   # m/s
    max_obstacle_speed: float = 3.0  # m/s; faster apparent motion is clipped to this
    motion_uncertainty: float = 0.2  # m/s; a moving hit's clearance shrinks by this x time ahead
    motion_horizon: float = 2.0     # s; moving hits are extrapolated this far at most, then held
    reversal_horizon: float = 0.5   # s; diff drive: a moving hit may also turn back: it is swept at -v too,
                                    # extrapolated this far (then held); 0 = off. Cars: off (measured worse)

    def validate(self) -> None:
        require(self.horizon >= 1.5, "verifier horizon must be >= 1.5 s")
        require(0 < self.dt <= self.horizon / 5, "verifier dt must give >= 5 poses over the horizon")
        require(self.safety_margin >= 0, "safety_margin must be >= 0")
        require(self.clearance_cap > self.safety_margin, "clearance_cap must exceed safety_margin")
        require(0 < self.min_valid_fraction <= 1, "min_valid_fraction must be in (0, 1]")
        require(self.batch >= 1, "batch must be >= 1")
        require(0 <= self.car_commit_time <= self.horizon, "car_commit_time must be in [0, horizon]")
        require(0 <= self.car_margin < self.clearance_cap, "car_margin must be in [0, clearance_cap)")
        require(self.sweep_step > 0, "sweep_step must be positive")
        require(self.control_period > 0, "control_period must be positive")
        require(0 <= self.commit_time <= self.horizon, "commit_time must be in [0, horizon]")
        require(self.motion_window > 0, "motion_window must be positive")
        require(self.motion_fit >= 0, "motion_fit must be >= 0")
        require(self.motion_flip_speed >= 0, "motion_flip_speed must be >= 0")
        require(0 <= self.motion_smoothing < 1, "motion_smoothing must be in [0, 1)")
        require(self.motion_smoothing_gate > 0, "motion_smoothing_gate must be positive")
        require(self.max_obstacle_speed > 0, "max_obstacle_speed must be positive")
        require(self.motion_uncertainty >= 0, "motion_uncertainty must be >= 0")
        require(self.motion_horizon > 0, "motion_horizon must be positive")
        require(self.reversal_horizon >= 0, "reversal_horizon must be >= 0")


Status = Literal["verified", "corrected", "fallback"]


@dataclass(frozen=True)
class Verified:
    primitive: int               # index into the primitive table (STOP for a fallback)
    v: float                     # command to send, m/s
    w: float                     # rad/s
    status: Status
    reason: str                  # why it was corrected / why we stop ("" when verified)
    path_robot: np.ndarray = field(repr=False)   # (N, 3) swept path without the braking tail, robot frame
    clearance: float = 0.0       # m, of the primitive sent (capped at clearance_cap)
    exhausted: bool = False      # every primitive was swept and none is safe (not: out of time, bad input)


@dataclass(frozen=True)
class Motion:
    """Velocities of the summary's lidar hits, robot frame (MotionTracker.update)."""
    velocity: np.ndarray         # (M, 2) m/s, one row per summary.points row (0 for static hits)
    moving: np.ndarray           # (M,) bool: hits the sweep extrapolates

    @property
    def count(self) -> int:
        return int(self.moving.sum())


# A sweep is vectorised over primitives, so most of its cost is fixed: measured on the 2-core dev VM
# (2026-12-06, docs/BENCHMARKS.md "deadline search"), 1 -> 8 -> 31 primitives cost 0.90 -> 1.40 -> 1.94 ms on
# Drive and 0.47 -> 0.57 -> 0.79 ms on Nav, i.e. each extra multiple of primitives adds 0.03-0.14 of the
# last cost. SWEEP_GROWTH is that share with a margin (the safe side is to overestimate). Scaling the last
# cost by the whole ratio (8x for the first batch) skipped the search on a slower machine: Drive stopped.
SWEEP_GROWTH = 0.5


def predicted_sweep_s(last_s: float, last_size: int, size: int) -> float:
    """Predicted seconds to sweep `size` primitives, from the last sweep's cost over `last_size`."""
    return last_s * (1.0 + SWEEP_GROWTH * max(0.0, size / max(last_size, 1) - 1.0))


_TAIL_FRACTIONS: dict[int, np.ndarray] = {}


def _tail_fractions(n_tail: int) -> np.ndarray:
    """(1, n_tail) i / n_tail, i = 1..n_tail (computed once per n_tail)."""
    f = _TAIL_FRACTIONS.get(n_tail)
    if f is None:
        f = (np.arange(1, n_tail + 1) / n_tail)[None, :]
        f.flags.writeable = False
        _TAIL_FRACTIONS[n_tail] = f
    return f


def stopping_tail(poses: np.ndarray, v_end: np.ndarray, w_end: np.ndarray, decel: float,
                  n_tail: int) -> np.ndarray:
    """(P, n_tail, 3) poses continuing each path's final curvature while braking to a stop."""
    d = v_end ** 2 / (2.0 * decel)                                         # (P,)
    kappa = np.where(v_end > 1e-6, w_end / np.maximum(v_end, 1e-6), 0.0)
    s = d[:, None] * _tail_fractions(n_tail)                                # arc length (P, T)
    end = poses[:, -1, :]
    heading = end[:, 2:3] + 0.5 * kappa[:, None] * s                        # chord direction of an arc
    chord = s * np.sinc(kappa[:, None] * s / (2 * np.pi))                   # 2 sin(ks/2)/k
    return np.stack([end[:, 0:1] + chord * np.cos(heading), end[:, 1:2] + chord * np.sin(heading),
                     end[:, 2:3] + kappa[:, None] * s], axis=-1)


def tail_times(v_end: np.ndarray, decel: float, n_tail: int) -> np.ndarray:
    """(P, n_tail) seconds after the horizon at which `stopping_tail`'s poses are reached."""
    d = v_end ** 2 / (2.0 * decel)
    s = d[:, None] * _tail_fractions(n_tail)
    v = v_end[:, None]
    return (v - np.sqrt(np.maximum(v * v - 2.0 * decel * s, 0.0))) / decel


def _in_pose_frames(poses: np.ndarray, points: np.ndarray, joined: bool = False):
    """|x'|, |y'| (M, K) of points (M, 2) in the frames of poses (K, 3) (`joined`: as one (M, 2K) array,
    x' | y')."""
    c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
    k = poses.shape[0]
    rot = np.concatenate([np.stack([c, s]), np.stack([-s, c])], axis=1)     # (2, 2K)
    offset = np.concatenate([poses[:, 0] * c + poses[:, 1] * s, -poses[:, 0] * s + poses[:, 1] * c])
    # einsum's own loop, not BLAS: a threaded BLAS on a busy CPU turns 0.1 ms into tens of ms.
    local = np.einsum("mi,ik->mk", points, rot)                             # (M, 2K): x' | y'
    local -= offset
    np.abs(local, out=local)
    return local if joined else (local[:, :k], local[:, k:])


def sweep_clearance(poses: np.ndarray, points: np.ndarray, half_length: float,
                    half_width: float, per_pose: bool = False) -> np.ndarray:
    """Min distance (P,) between the rectangles placed at poses (P, N, 3) and points (M, 2).

    0 when a point lies inside a rectangle; +inf when there are no points. One (M, 2) x (2, 2K)
    product puts every point in every pose's frame, then the point-to-rectangle distance is elementwise.
    """
    p, n, _ = poses.shape
    if points.shape[0] == 0:
        return np.full((p, n) if per_pose else p, np.inf)
    k = p * n
    local = _in_pose_frames(poses.reshape(-1, 3).astype(np.float32), points.astype(np.float32), joined=True)
    local[:, :k] -= half_length                                             # outside the rectangle along x'
    local[:, k:] -= half_width                                              # ... and along y'
    np.maximum(local, 0.0, out=local)
    local *= local                                                          # (in place: no (M, K) temporaries)
    d2 = local[:, :k] + local[:, k:]                                        # (M, K)
    d = np.sqrt(d2.min(axis=0).reshape(p, n).astype(np.float64))
    return d if per_pose else d.min(axis=1)


def moving_clearance(poses: np.ndarray, times: np.ndarray, points: np.ndarray, velocity: np.ndarray,
                     half_length: float, half_width: float, uncertainty: float,
                     per_pose: bool = False, horizon: np.ndarray | None = None) -> np.ndarray:
    """Like `sweep_clearance` for points moving at `velocity` (M, 2): each pose (P, N, 3) at its time
    (P, N) meets the points where they will be then, and each distance shrinks by uncertainty x time
    (may go below 0: how deep the predicted overlap is). `per_pose`: (P, N), each pose's own. `horizon`
    (M,): each point is extrapolated at most this long (s), then held."""
    p, n, _ = poses.shape
    if points.shape[0] == 0:
        return np.full((p, n) if per_pose else p, np.inf)
    t = times.reshape(1, -1)                                                # (1, K)
    flat = poses.reshape(-1, 3)
    c, s = np.cos(flat[:, 2])[None], np.sin(flat[:, 2])[None]
    t_move = t if horizon is None else np.minimum(t, np.asarray(horizon, np.float64)[:, None])
    dx = points[:, :1] + velocity[:, :1] * t_move - flat[None, :, 0]        # (M, K)
    dy = points[:, 1:] + velocity[:, 1:] * t_move - flat[None, :, 1]
    ax = np.maximum(np.abs(c * dx + s * dy) - half_length, 0.0)
    ay = np.maximum(np.abs(-s * dx + c * dy) - half_width, 0.0)
    d = (np.sqrt(ax * ax + ay * ay) - uncertainty * t).min(axis=0).reshape(p, n)
    return d if per_pose else d.min(axis=1)


class MotionTracker:
    """Velocities of lidar hits from the planner's own earlier scans (odometry + points, no map).

    update(summary) keeps the last scans (odom frame) and compares the newest with the one about
    `motion_window` older: a hit lying well in front of where that scan's neighbouring beams saw free
    space is new there, i.e. something moved in. Hits are grouped into objects (neighbouring beams, small
    gaps); an object holding such hits is moving, and its velocity is the translation that best lays its
    hits onto the older scan (nearest-neighbour steps, then the centroid of the older hits along it),
    clipped to max_obstacle_speed. A moving object stays moving while it is found near where its track
    predicts it (an object sliding along its own face breaks little free space). Reset it when the robot
    is moved or a new episode starts (Planner.reset does).
    """

    def __init__(self, cfg: VerifierConfig = VerifierConfig()):
        self.cfg = cfg
        self.history: deque = deque()
        self.tracks: list[tuple[float, np.ndarray, np.ndarray]] = []   # (stamp, centroid, velocity), odom

    def reset(self) -> None:
        self.history.clear()
        self.tracks = []


    def _reference(self, stamp: float, min_age: float):
        """The newest stored scan at least `min_age` older than `stamp` (and not stale)."""
        oldest = 3 * self.cfg.motion_window
        for entry in reversed(self.history):          # newest first: the first match is the newest
            age = stamp - entry[0]
            if min_age - 1e-6 <= age <= oldest and entry[1].shape[0] >= 2:
                return entry
        return None

    def update(self, summary: SensorSummary) -> Motion:
        pts = np.asarray(summary.points, dtype=np.float64).reshape(-1, 2)
        m = pts.shape[0]

        def none() -> Motion:
            return Motion(np.zeros((m, 2)), np.zeros(m, dtype=bool))
        # (summarize's hits are all finite: one reduction over the whole array says so)
        all_finite = bool(np.isfinite(pts).all())
        finite = None if all_finite else np.isfinite(pts).all(axis=1)
        pose = summary.pose
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        odom = np.empty((m, 2))
        odom[:, 0] = pose.x + c * pts[:, 0] - s * pts[:, 1]
        odom[:, 1] = pose.y + s * pts[:, 0] + c * pts[:, 1]
        stamp = float(summary.stamp)
        while self.history and (stamp - self.history[0][0] > 3 * self.cfg.motion_window or stamp < self.history[0][0]):
            self.history.popleft()
        # Two references: the scan motion_window old (velocity over a long baseline) and one a quarter
        # of that old (a fast or just-unoccluded object is seen moving sooner).
        refs = [r for r in (self._reference(stamp, self.cfg.motion_window),
                            self._reference(stamp, self.cfg.motion_window / 4)) if r is not None]
        # (stamp, finite hits in odom, pose, [its polar view, filled when first used as a reference])
        self.history.append((stamp, odom if all_finite else odom[finite], (pose.x, pose.y, pose.yaw), [None]))
        if not refs or not self.cfg.track_motion or m == 0:
            return none()
        self.tracks = [tr for tr in self.tracks if stamp - tr[0] <= 2.5 * self.cfg.motion_window]
        moving_hit = self._free_space_violations(odom, refs[0])
        for ref in refs[1:]:
            moving_hit |= self._free_space_violations(odom, ref)
        if not all_finite:
            moving_hit &= finite
        if not moving_hit.any() and not self.tracks:
            return none()
        velocity = np.zeros((m, 2))
        moving = np.zeros(m, dtype=bool)
        order, starts = self._objects(pts, finite, all_finite)
        if order.size == 0:
            return none()
        sizes = np.diff(starts, append=order.size)
        hits = np.add.reduceat((moving_hit if all_finite else moving_hit[order]).astype(np.int64), starts)
        candidates = hits >= np.minimum(np.maximum(1, 0.3 * sizes), 3)
        if self.tracks:      # objects near where a moving one was predicted to be stay candidates
            centre = np.add.reduceat(odom if all_finite else odom[order], starts, axis=0) / sizes[:, None]
            predicted = np.array([c0 + v0 * (stamp - t0) for t0, c0, v0 in self.tracks])
            near = np.hypot(*(centre[:, None, :] - predicted[None]).transpose(2, 0, 1)).min(axis=1) < 0.5
            candidates |= near & (sizes <= 40)
        tracks = []
        for j in np.flatnonzero(candidates).tolist():
            start, size = int(starts[j]), int(sizes[j])
            idx = order[start:start + size]
            n_hit = int(hits[j])
            if 3 <= n_hit < 0.3 * size:
                # A long object (a wall) with a few moving hits: only those hits and their neighbours.
                sel = moving_hit[idx]
                keep = sel.copy()
                keep[1:] |= sel[:-1]
                keep[0] |= sel[-1]
                keep[:-1] |= sel[1:]
                keep[-1] |= sel[0]
                idx = idx[keep]
            q = odom[idx]
            found = self._shift(q, refs, stamp)
            if found is None:
                continue
            u, dt = found
            speed = math.hypot(*u) / dt
            if speed < 0.15:          # sensor noise / viewpoint change, not motion worth predicting
                continue
            if speed > self.cfg.max_obstacle_speed:
                u = u * (self.cfg.max_obstacle_speed / speed)
            vel_odom = u / dt
            q_centre = q.mean(axis=0)
            if self.cfg.motion_smoothing and self.tracks:
                vel_odom = self._smoothed(vel_odom, q_centre, predicted)
            velocity[idx] = (c * vel_odom[0] + s * vel_odom[1], -s * vel_odom[0] + c * vel_odom[1])
            moving[idx] = True
            tracks.append((stamp, q_centre, vel_odom))
        # Keep the older tracks not renewed now (an object hidden for a moment), up to their age limit.
        self.tracks = tracks + [tr for tr in self.tracks if not any(
            np.hypot(*(tr[1] + tr[2] * (stamp - tr[0]) - n[1])) < 0.5 for n in tracks)]
        return Motion(velocity, moving)

    @staticmethod
    def _polar_view(entry) -> tuple:
        """A stored scan seen from its own pose, computed once per scan (it serves as the reference of
        several later scans): (bearings sorted, their ranges, beam step, bearing limits, range limit)."""
        cache = entry[3]
        if cache[0] is None:
            ref_pts, (ox, oy, oyaw) = entry[1], entry[2]
            c, s = math.cos(oyaw), math.sin(oyaw)
            dx, dy = ref_pts[:, 0] - ox, ref_pts[:, 1] - oy
            ang_r, rng_r = np.arctan2(-s * dx + c * dy, c * dx + s * dy), np.hypot(dx, dy)
            order = np.argsort(ang_r)
            ang_r, rng_r = ang_r[order], rng_r[order]
            gaps = np.diff(ang_r)
            gaps = gaps[gaps > 1e-4]            # hits come from beams: the smallest gap is the beam spacing
            step = max(float(gaps.min()), 1e-3) if gaps.size else 0.1
            cache[0] = (ang_r, rng_r, step, ang_r[0] - step, ang_r[-1] + step, rng_r.max() - 0.1)
        return cache[0]

    @classmethod
    def _free_space_violations(cls, odom: np.ndarray, ref) -> np.ndarray:
        """(M,) True where the reference scan's two beams around a hit's bearing both reached well past it."""
        ang_r, rng_r, step, lo, hi, far = cls._polar_view(ref)
        ox, oy, oyaw = ref[2]
        c, s = math.cos(oyaw), math.sin(oyaw)
        dx, dy = odom[:, 0] - ox, odom[:, 1] - oy
        ang, rng = np.arctan2(-s * dx + c * dy, c * dx + s * dy), np.hypot(dx, dy)
        j = np.searchsorted(ang_r, ang)
        left, right = np.maximum(j - 1, 0), np.minimum(j, ang_r.size - 1)
        # A neighbour farther than 1.5 beam steps in angle is a beam with no return: free to range_max.
        r_left = np.where(np.abs(ang - ang_r[left]) <= 1.5 * step, rng_r[left], np.inf)
        r_right = np.where(np.abs(ang_r[right] - ang) <= 1.5 * step, rng_r[right], np.inf)
        # Seen by the reference at all: within its field of view, and nearer than its farthest hit (a beam
        # with no return is free only up to range_max, which the hits bound from below).
        inside = (ang >= lo) & (ang <= hi) & (rng < far)
        tolerance = 0.05 + 0.6 * rng * step                                # corners stand out by ~range x step / 2
        return inside & (np.minimum(r_left, r_right) > rng + tolerance)

    @staticmethod
    def _objects(pts: np.ndarray, finite: np.ndarray, all_finite: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Objects: runs of consecutive hits (beam order) closer than max(0.3 m, 3 x their beam spacing).
        (the finite hits' indices, where each object starts in them)."""
        idx = np.arange(pts.shape[0]) if all_finite else np.flatnonzero(finite)
        if idx.size == 0:
            return idx, idx
        p = pts if all_finite else pts[idx]
        gap = np.hypot(*np.diff(p, axis=0).T)
        rng = np.hypot(p[:, 0], p[:, 1])
        ang = np.arctan2(p[:, 1], p[:, 0])
        gaps = np.abs(np.diff(ang))
        gaps = gaps[gaps > 1e-4]
        step = float(gaps.min()) if gaps.size else 0.1
        limit = np.maximum(0.3, 3.0 * step * np.minimum(rng[:-1], rng[1:]))
        return idx, np.concatenate([[0], np.flatnonzero(gap > limit) + 1])

    def _shift(self, q: np.ndarray, refs: list, stamp: float) -> tuple[np.ndarray, float] | None:
        """(shift (2,) in odom, over how many s) of the object whose hits are q: fitted (motion_fit, as a
        velocity over 1 s), or from the longest baseline that still saw it."""
        if self.cfg.motion_fit > 0:
            v = self._fitted_velocity(q, stamp)
            return None if v is None else (v, 1.0)
        for ref in refs:
            dt = stamp - ref[0]
            u = self._displacement(q, ref[1], dt)
            if u is not None:
                return u, dt
        return None

    def _smoothed(self, velocity: np.ndarray, centre: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """The new velocity blended with that of the track predicted nearest the object (within 0.5 m), when
        the two agree (a turn or a wrong match is taken as measured). `predicted` (T, 2): where each of
        self.tracks expects its object now."""
        gaps = np.hypot(*(predicted - centre).T)
        j = int(np.argmin(gaps))
        previous = self.tracks[j][2]
        if gaps[j] < 0.5 and np.hypot(*(velocity - previous)) < self.cfg.motion_smoothing_gate:
            return (1 - self.cfg.motion_smoothing) * velocity + self.cfg.motion_smoothing * previous
        return velocity

    def _fitted_velocity(self, q: np.ndarray, stamp: float) -> np.ndarray | None:
        """Velocity from the object's displacements against the scans 1, 2, 3 and 4 quarter-windows old:
        the least-squares slope through them; if the newer half's slope differs from it by more than
        `motion_fit` m/s, the object has changed its motion (a mover turning back) and the newer half
        alone is used."""
        ages, shifts = [], []
        shape = self._centre_and_extent(q)
        for quarter in (1, 2, 3, 4):
            ref = self._reference(stamp, self.cfg.motion_window * quarter / 4)
            if ref is None:
                continue
            dt = stamp - ref[0]
            if ages and abs(dt - ages[-1]) < 1e-6:
                continue
            u = self._displacement(q, ref[1], dt, shape)
            if u is not None:
                ages.append(dt)
                shifts.append(u)
        if not ages:
            return None
        t, u = np.array(ages), np.array(shifts)
        v_all = (t[:, None] * u).sum(axis=0) / (t * t).sum()
        if self.cfg.motion_flip_speed and t.size >= 2:
            v_newest = u[0] / t[0]
            if np.dot(v_newest, v_all) < 0 and np.hypot(*v_newest) > self.cfg.motion_flip_speed:
                return v_newest
        if t.size >= 3:
            k = t.size // 2
            v_new = (t[:k, None] * u[:k]).sum(axis=0) / (t[:k] * t[:k]).sum()
            if np.hypot(*(v_new - v_all)) > self.cfg.motion_fit:
                return v_new
        return v_all

    @staticmethod
    def _centre_and_extent(q: np.ndarray) -> tuple[np.ndarray, float]:
        centre = q.mean(axis=0)
        return centre, float(np.hypot(*(q - centre).T).max())

    def _displacement(self, q: np.ndarray, ref_pts: np.ndarray, dt: float,
                      shape: tuple[np.ndarray, float] | None = None) -> np.ndarray | None:
        """Translation (2,) that lays the object's hits q onto the reference scan (None: it saw nothing near).
        `shape`: q's `_centre_and_extent`, when the caller matches q against several scans."""
        gate = self.cfg.max_obstacle_speed * dt + 0.3
        centre, extent = shape or self._centre_and_extent(q)
        radius = extent + gate
        near = ref_pts[np.hypot(*(ref_pts - centre).T) <= radius]
        if near.shape[0] == 0:
            return None
        near_x, near_y = near[:, 0], near[:, 1]

        def dist2(u: np.ndarray) -> np.ndarray:
            """(len(q), len(near)) squared distances of the shifted hits q - u to the older hits: dx^2 + dy^2
            per pair (as einsum sums the two products; no (q, near, 2) array)."""
            qu = q - u
            dx = qu[:, 0:1] - near_x
            dy = qu[:, 1:2] - near_y
            dx *= dx
            dy *= dy
            dx += dy
            return dx
        u = np.zeros(2)
        for _ in range(2):
            nn = np.argmin(dist2(u), axis=1)
            u = (q - near[nn]).mean(axis=0)
        # Nearest neighbours under-read motion along a face (its hits slide along it): then move the
        # centroid of the older hits lying along the shifted object onto the object's centroid.
        for _ in range(2):
            along = dist2(u).min(axis=0) < 0.25 ** 2
            if along.sum() < 2:
                break
            u = centre - near[along].mean(axis=0)
        return u


class Verifier:
    """Footprint sweep of motion primitives against lidar points; see the module docstring."""

    def __init__(self, vehicle: VehicleSpec, cfg: VerifierConfig = VerifierConfig()):
        cfg.validate()
        vehicle.validate()
        if vehicle.max_speed * cfg.dt > vehicle.length:
            # The returned path's poses must overlap like the footprints a follower would check.
            raise ConfigError(f"verifier dt={cfg.dt} s is too coarse: the vehicle moves "
                              f"{vehicle.max_speed * cfg.dt:.2f} m per step, more than its length")
        self.vehicle, self.cfg = vehicle, cfg
        self.table = primitive_table(vehicle).astype(np.float64)
        self.half_length, self.half_width = vehicle.length / 2, vehicle.width / 2
        # Kinematics are integrated every `fine` s (the control period, dividing dt), the way a base
        # following a command held for one control period moves (the simulator's scheme); footprints are
        # swept every `q` of those steps (sweep_step; a long vehicle -- a car -- up to 0.4 of its length at
        # full speed), the returned path is every `per_dt`-th.
        self.per_dt = max(1, math.ceil(cfg.dt / cfg.control_period - 1e-9))
        self.fine = cfg.dt / self.per_dt
        limit = max(cfg.sweep_step, 0.4 * vehicle.length / vehicle.max_speed)
        self.q = max(1, min(self.per_dt, int(limit / self.fine + 1e-9)))
        self.n_horizon = int(round(cfg.horizon / cfg.dt))
        self.n_fine = self.n_horizon * self.per_dt
        d_max = vehicle.max_speed ** 2 / (2 * vehicle.max_accel)
        # Tail poses spaced by at most 0.9 footprint lengths (consecutive footprints overlap).
        self.n_tail = max(1, math.ceil(d_max / (0.9 * vehicle.length))) if cfg.braking else 0
        # The fallback stop may start after any of the first commit_time's control periods.
        self.n_commit_stop = max(1, round(cfg.commit_time / self.fine)) if cfg.commit_time > 0 else 0
        self.n_brake = math.ceil(vehicle.max_speed / vehicle.max_accel / self.fine - 1e-9) + 1
        # Commit-then-brake pass (cars only; needs the braking tail to mean anything).
        use_commit = vehicle.kind == "ackermann" and cfg.car_commit_time > 0 and cfg.braking
        self.n_commit = math.ceil(cfg.car_commit_time / self.fine - 1e-9) if use_commit else 0
        # Turned-back copies of moving hits: diff drive only. On Drive-v0 they sent the car off the road
        # (VAL L3: out_of_road 0 -> 13%) swerving from traffic that does not turn (docs/BENCHMARKS.md).
        self.reversal_horizon = cfg.reversal_horizon if vehicle.kind == "diff" else 0.0
        # Arrays fixed by the configuration (per number of steps), computed on first use: the same values
        # as computing them per call, without the per-call cost (read-only).
        self._const: dict[tuple, object] = {}

    def _cached(self, key: tuple, make):
        value = self._const.get(key)
        if value is None:
            value = make()
            for a in (value if isinstance(value, tuple) else (value,)):
                if isinstance(a, np.ndarray):
                    a.flags.writeable = False
            self._const[key] = value
        return value

    def _limits(self, n: int) -> tuple:
        """(dv, -dv, dr, -dr) (1, n): the speed and the yaw rate (diff drive) or steering angle (car)
        changes reachable in 1..n control periods."""
        def make():
            veh, dt = self.vehicle, self.fine
            k = np.arange(1, n + 1, dtype=np.float64)[None, :]
            dv = veh.max_accel * dt * k
            dr = (veh.max_steer_rate if veh.kind == "ackermann" else veh.max_yaw_accel) * dt * k
            return dv, -dv, dr, -dr
        return self._cached(("limits", n), make)

    # -- kinematics -------------------------------------------------------------------------
    def initial_steer(self, v0: float, w0: float) -> float:
        """A car's steering angle as odometry shows it (straight when too slow to tell)."""
        return self.vehicle.steer_for(v0, w0) if abs(v0) > 0.1 else 0.0

    def _phase(self, start: tuple, v_cmd: np.ndarray, w_cmd: np.ndarray, n: int):
        """Hold commands (K,) for n control periods from state (x, y, yaw, v, w, steer) arrays (K,):
        poses (K, n, 3), the end state, and the per-step (speed, yaw rate, steering) (K, n) each. Speed
        (and yaw rate or steering angle) approach their targets at the vehicle's limits; positions use
        end-of-step speed and mid-step heading (the simulator's scheme)."""
        veh, dt = self.vehicle, self.fine
        x, y, yaw, v, w, steer = start
        dv, neg_dv, dr, neg_dr = self._limits(n)
        cv = v[:, None] + np.minimum(np.maximum(v_cmd[:, None] - v[:, None], neg_dv), dv)     # (K, n)
        if veh.kind == "ackermann":
            moving = np.abs(v_cmd) >= 1e-6
            target = np.where(moving, np.arctan(w_cmd * veh.wheelbase / np.where(moving, v_cmd, 1.0)), steer)
            target = np.minimum(np.maximum(target, -veh.max_steer), veh.max_steer)
            cs = steer[:, None] + np.minimum(np.maximum(target[:, None] - steer[:, None], neg_dr), dr)
            cw = cv * np.tan(cs) / veh.wheelbase
        else:
            cw = w[:, None] + np.minimum(np.maximum(w_cmd[:, None] - w[:, None], neg_dr), dr)
            cs = np.broadcast_to(steer[:, None], cw.shape)
        rel_yaw = np.cumsum(cw * dt, axis=1)
        mid = rel_yaw - 0.5 * cw * dt
        lx = np.cumsum(cv * np.cos(mid) * dt, axis=1)
        ly = np.cumsum(cv * np.sin(mid) * dt, axis=1)
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        poses = np.stack([x[:, None] + c * lx - s * ly, y[:, None] + s * lx + c * ly, yaw[:, None] + rel_yaw], axis=-1)
        end = (poses[:, -1, 0], poses[:, -1, 1], poses[:, -1, 2], cv[:, -1], cw[:, -1], cs[:, -1])
        return poses, end, (cv, cw, cs)

    def _start(self, v0: float, w0: float, k: int) -> tuple:
        z = np.zeros(k)
        return (z, z, z, np.full(k, float(v0)), np.full(k, float(w0)), np.full(k, self.initial_steer(v0, w0)))

    def _swept(self, n: int, keep: int = 0) -> np.ndarray:
        """Indices of the integrated steps that are swept: the first `keep`, then every q-th, and the last."""
        def make():
            idx = np.arange(self.q - 1, n, self.q)
            idx = np.union1d(np.arange(min(keep, n)), idx)
            return idx if idx.size and idx[-1] == n - 1 else np.append(idx, n - 1)
        return self._cached(("swept", n, keep), make)

    def _swept_times(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(_swept(n), the times (s) of those steps)."""
        def make():
            idx = self._swept(n)
            return idx, self.fine * (idx + 1.0)
        return self._cached(("swept_times", n), make)

    def _with_tail(self, poses: np.ndarray, times: np.ndarray, state: tuple):
        if not self.n_tail:
            return poses, times
        v_end, w_end = np.abs(state[3]), state[4]
        return (np.concatenate([poses, stopping_tail(poses, v_end, w_end, self.vehicle.max_accel, self.n_tail)], axis=1),
                np.concatenate([times, times[:, -1:] + tail_times(v_end, self.vehicle.max_accel, self.n_tail)], axis=1))

    def _drive(self, v0: float, w0: float, cmds: np.ndarray, phases, tail: bool):
        """(swept poses (K, N, 3), their times (K, N), every integrated pose (K, n, 3)) for a sequence of
        phases ((v, w) arrays (K,), control periods); with `tail`, braking on the final curvature follows."""
        k = cmds.shape[0]
        state = self._start(v0, w0, k)
        chunks = []
        for v_cmd, w_cmd, n in phases:
            if n <= 0:
                continue
            poses, state, _ = self._phase(state, v_cmd, w_cmd, n)
            chunks.append(poses)
        full = np.concatenate(chunks, axis=1)
        idx, t_idx = self._swept_times(full.shape[1])
        swept, times = full[:, idx], np.broadcast_to(t_idx, (k, idx.size))
        if tail:
            swept, times = self._with_tail(swept, times, state)
        return swept, times, full

    def _path(self, full: np.ndarray) -> np.ndarray:
        return full[:, self.per_dt - 1:self.n_fine:self.per_dt]

    def paths(self, v0: float, w0: float, cmds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(path (K, N, 3) over the horizon at dt, swept poses (K, ~horizon / sweep_step + tail, 3)) for
        (v, w) commands (K, 2) held from the current twist (v0, w0), robot frame."""
        swept, _, full = self._look_ahead(v0, w0, cmds)
        return self._path(full), swept

    def _look_ahead(self, v0: float, w0: float, cmds: np.ndarray):
        cmds = np.asarray(cmds, dtype=np.float64).reshape(-1, 2)
        return self._drive(v0, w0, cmds, [(cmds[:, 0], cmds[:, 1], self.n_fine)], tail=True)

    def look_ahead(self, v0: float, w0: float, cmds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Swept poses and times: each command held for the horizon, then braking on its curvature."""
        return self._look_ahead(v0, w0, cmds)[:2]

    def _ahead_and_stop(self, v0: float, w0: float, cmds: np.ndarray):
        """The look-ahead (swept poses, times, path) and the fallback stops -- (0, 0) commanded after 1,
        2, ... n_commit_stop control periods of the command, all swept as one (K, N', 3) -- with one
        integration of the command and one of the braking."""
        k, n_c = cmds.shape[0], self.n_commit_stop
        full, state, (cv, cw, cs) = self._phase(self._start(v0, w0, k), cmds[:, 0], cmds[:, 1], self.n_fine)
        idx, t_idx = self._swept_times(self.n_fine)
        ahead, ahead_t = self._with_tail(full[:, idx], np.broadcast_to(t_idx, (k, idx.size)), state)
        # Every commit length at once: (n_c * K) braking rows from the states after 1..n_c periods
        # (rows j * K + i: command i held j + 1 periods).
        starts = tuple(a[:, :n_c].T.reshape(-1) for a in (full[..., 0], full[..., 1], full[..., 2], cv, cw, cs))
        zero = np.zeros(k * n_c)
        brake, _, _ = self._phase(starts, zero, zero, self.n_brake)
        b_idx = self._swept(self.n_brake)
        brake = brake[:, b_idx].reshape(n_c, k, b_idx.size, 3)
        stops = []
        for j in range(n_c):
            stops += [full[:, :j + 1], brake[j]]
        stop = np.concatenate(stops, axis=1)
        stop_t = np.broadcast_to(self._stop_times(n_c), (k, stop.shape[1]))
        return ahead, ahead_t, self._path(full), stop, stop_t

    def _stop_times(self, n_c: int) -> np.ndarray:
        """Times (s) of the poses _ahead_and_stop sweeps for the fallback stops, in its order."""
        def make():
            b_idx = self._swept(self.n_brake)
            stop_t = []
            for j in range(n_c):
                stop_t += [self.fine * np.arange(1, j + 2), self.fine * (j + 1 + b_idx + 1.0)]
            return np.concatenate(stop_t)
        return self._cached(("stop_times", n_c), make)

    def stop_paths(self, v0: float, w0: float, cmds: np.ndarray, commit_steps: int | None = None):
        """Swept poses and times: each command held `commit_steps` control periods (default: all of
        commit_time), then (0, 0) commanded until the vehicle stands -- the fallback's stop (a car keeps
        its steering)."""
        cmds = np.asarray(cmds, dtype=np.float64).reshape(-1, 2)
        n = self.n_commit_stop if commit_steps is None else commit_steps
        zero = np.zeros(cmds.shape[0])
        return self._drive(v0, w0, cmds, [(cmds[:, 0], cmds[:, 1], n), (zero, zero, self.n_brake)], tail=False)[:2]

    def car_paths(self, v0: float, w0: float, cmds: np.ndarray, straighten: bool) -> np.ndarray:
        """(K, n, 3) robot-frame poses of a car holding each (v, w) command's steering for
        car_commit_time, then braking to a stop on that curvature (not `straighten`), or steering back to
        straight at the same speed until the horizon's end and then braking (`straighten`: a lane change
        as it is driven, keeping the look-ahead distance for what is ahead)."""
        return self._car_paths(v0, w0, cmds, straighten)[0]

    def _car_paths(self, v0: float, w0: float, cmds: np.ndarray, straighten: bool):
        cmds = np.asarray(cmds, dtype=np.float64).reshape(-1, 2)
        zero = np.zeros(cmds.shape[0])
        if not straighten:
            return self._drive(v0, w0, cmds, [(cmds[:, 0], cmds[:, 1], self.n_commit), (zero, zero, self.n_brake)],
                               tail=False)
        return self._drive(v0, w0, cmds, [(cmds[:, 0], cmds[:, 1], self.n_commit),
                                          (cmds[:, 0], zero, self.n_fine - self.n_commit)], tail=True)

    # -- sweeping ---------------------------------------------------------------------------
    def _points(self, summary: SensorSummary, motion: Motion | None):
        """(static points (M, 2), moving points (D, 2), their velocities (D, 2), how long (s) each is
        extrapolated (D,)), finite only. With reversal_horizon, each moving hit comes twice: as seen, and
        turned back (-v) for reversal_horizon (diff drive). Why: the tracker notices a turn 0.3-0.5 s late (its
        velocity comes from scans up to motion_window apart), and boxes turning back into a path the
        robot had committed to caused most collisions with movers (docs/BENCHMARKS.md, "Movers that
        turn back")."""
        pts = np.asarray(summary.points, dtype=np.float64).reshape(-1, 2)
        ok = np.isfinite(pts).all(axis=1)
        if motion is not None and motion.moving.shape[0] == pts.shape[0] and motion.moving.any():
            mov = ok & motion.moving
            moving, velocity = pts[mov], np.asarray(motion.velocity, np.float64)[mov]
            horizon = np.full(moving.shape[0], self.cfg.motion_horizon)
            if self.reversal_horizon > 0:
                moving, velocity = np.concatenate([moving, moving]), np.concatenate([velocity, -velocity])
                horizon = np.concatenate([horizon, np.full(horizon.shape, self.reversal_horizon)])
            return pts[ok & ~mov], moving, velocity, horizon
        return pts[ok], np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)

    def _relevant_points(self, points: np.ndarray, swept: np.ndarray) -> np.ndarray:
        """Points that can be within clearance_cap of any swept footprint (others only cost time): those
        inside the box around the swept poses' centres widened by the footprint's half-diagonal plus
        clearance_cap (+1 cm for float32 rounding). A point outside it is farther than clearance_cap from
        every footprint, so the (capped) clearances are exactly those of sweeping every point."""
        if points.shape[0] == 0:
            return points
        e = math.hypot(self.half_length, self.half_width) + self.cfg.clearance_cap + 0.01
        x, y = swept[..., 0], swept[..., 1]
        px, py = points[:, 0], points[:, 1]
        keep = (px >= float(x.min()) - e) & (px <= float(x.max()) + e)
        keep &= (py >= float(y.min()) - e) & (py <= float(y.max()) + e)
        return points[keep]

    def _sweep(self, poses: np.ndarray, times: np.ndarray, points, cuts: tuple = ()) -> list[tuple]:
        """For each segment of the poses (K, N, 3) at times (K, N) split at `cuts` (one sweep for all):
        (clearance from static hits, clearance from moving hits at their predicted places, time of the
        first pose within safety_margin of a moving hit (inf: none)), (K,) each, clearances capped."""
        static, moving, velocity, horizon = points
        cap = self.cfg.clearance_cap
        d_static = sweep_clearance(poses, self._relevant_points(static, poses), self.half_length,
                                   self.half_width, per_pose=True)
        d_moving = None
        if moving.shape[0]:
            held = np.minimum(times, self.cfg.motion_horizon)      # extrapolate so far, then hold
            d_moving = moving_clearance(poses, held, moving, velocity, self.half_length, self.half_width,
                                        self.cfg.motion_uncertainty, per_pose=True, horizon=horizon)
        out = []
        bounds = (0,) + tuple(cuts) + (poses.shape[1],)
        for a, b in zip(bounds[:-1], bounds[1:]):
            clear = np.minimum(d_static[:, a:b].min(axis=1), cap)
            if d_moving is None:
                out.append((clear, np.full_like(clear, cap), np.full_like(clear, np.inf)))
                continue
            d = d_moving[:, a:b]
            hit = d <= self.cfg.safety_margin
            t = np.asarray(times)[:, a:b]
            conflict = np.where(hit.any(axis=1), t[np.arange(d.shape[0]), hit.argmax(axis=1)], np.inf)
            out.append((clear, np.minimum(d.min(axis=1), cap), conflict))
        return out

    def sweep(self, summary: SensorSummary, cmds: np.ndarray,
              motion: Motion | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Clearance (K,) in m (capped at clearance_cap) and path (K, N, 3) of arbitrary (v, w)
        commands (K, 2) held over the horizon then braking (the look-ahead), swept from the summary's
        twist against its lidar points. The DWA baseline sweeps its velocity samples with it."""
        swept, times, full = self._look_ahead(summary.twist.v, summary.twist.w, cmds)
        clear = np.minimum(*self._sweep(swept, times, self._points(summary, motion))[0][:2])
        return clear, self._path(full)

    def _deciding_clearance(self, summary: SensorSummary, primitives: np.ndarray, motion: Motion | None = None,
                            split: bool = False, pts: tuple | None = None):
        """Clearance (K,) and path (K, N, 3) that decide: the smaller of the look-ahead's and the
        fallback stop's, static and moving hits alike (with `split`, also the static hits' part alone).
        A car failing the look-ahead passes (path = the straightening one) when its fallback stop is
        clear and both car paths clear every hit by car_margin."""
        cmds = self.table[primitives]
        v0, w0 = summary.twist.v, summary.twist.w
        if pts is None:                    # (verify passes them: one split per decision)
            pts = self._points(summary, motion)
        if self.cfg.commit_time > 0:       # one sweep over the look-ahead and the fallback stop's path
            swept, times, path, stop_poses, stop_times = self._ahead_and_stop(v0, w0, cmds)
            rows = np.arange(cmds.shape[0])
            k = rows.size
            cap = self.cfg.clearance_cap
            ahead_s, stop_s = np.full(k, cap), np.full(k, np.inf)
            ahead_m, stop_m = np.full(k, cap), np.full(k, cap)
            ahead_c, stop_c = np.full(k, np.inf), np.full(k, np.inf)
            if k > 1 and not self.n_commit:
                # Screen (diff drive): a command whose look-ahead hits a static point is out whatever
                # else holds (most alternatives, in clutter); only the others pay for the stops and the
                # moving hits. Its reported clearance is that of the look-ahead (<= safety_margin).
                none = np.zeros((0, 2))
                ahead_s = self._sweep(swept, times, (pts[0], none, none, np.zeros(0)))[0][0]
                rows = np.flatnonzero(self.is_safe(ahead_s))
            if rows.size:
                (a_s, a_m, a_c), (s_s, s_m, s_c) = self._sweep(
                    np.concatenate([swept[rows], stop_poses[rows]], axis=1),
                    np.concatenate([times[rows], stop_times[rows]], axis=1), pts, cuts=(swept.shape[1],))
                ahead_s[rows], ahead_m[rows], ahead_c[rows] = a_s, a_m, a_c
                stop_s[rows], stop_m[rows], stop_c[rows] = s_s, s_m, s_c
        else:
            swept, times, full = self._look_ahead(v0, w0, cmds)
            path = self._path(full)
            ahead_s, ahead_m, ahead_c = self._sweep(swept, times, pts)[0]
            stop_s = stop_m = stop_c = np.full_like(ahead_s, np.inf)
        conflict = np.maximum(ahead_c, stop_c)    # the later of: holding it, or stopping next time
        static = np.minimum(ahead_s, stop_s)
        clear = np.minimum(static, np.minimum(ahead_m, stop_m))
        stop = np.minimum(stop_s, stop_m)
        retry = np.flatnonzero(~self.is_safe(clear) & self.is_safe(stop)) if self.n_commit else []
        if len(retry):
            margin = max(self.cfg.car_margin, self.cfg.safety_margin)
            brake, brake_t, _ = self._car_paths(v0, w0, cmds[retry], False)
            drive, drive_t, drive_full = self._car_paths(v0, w0, cmds[retry], True)
            (brake_s, brake_m, _), (drive_s, drive_m, _) = self._sweep(
                np.concatenate([brake, drive], axis=1), np.concatenate([brake_t, drive_t], axis=1), pts,
                cuts=(brake.shape[1],))
            car_static = np.minimum(brake_s, drive_s)
            car_clear = np.minimum(car_static, np.minimum(brake_m, drive_m))
            clear, path, static, conflict = clear.copy(), path.copy(), static.copy(), conflict.copy()
            for j, k in enumerate(retry):
                if car_clear[j] > margin:
                    clear[k] = min(car_clear[j], stop[k])
                    static[k] = min(car_static[j], stop_s[k])
                    conflict[k] = np.inf
                    path[k] = self._path(drive_full[j:j + 1])[0]
        return (clear, path, static, conflict) if split else (clear, path)

    def clearances(self, summary: SensorSummary, motion: Motion | None = None) -> np.ndarray:
        """(NUM_PRIMITIVES,) deciding clearance in m of every primitive (capped)."""
        return self._deciding_clearance(summary, np.arange(NUM_PRIMITIVES), motion)[0]

    def is_safe(self, clearance: np.ndarray | float) -> np.ndarray | bool:
        return np.asarray(clearance) > self.cfg.safety_margin

    # -- deciding ---------------------------------------------------------------------------
    def unusable_reason(self, summary: SensorSummary) -> str:
        """Why the summary cannot be trusted for a safety check ("" when it can)."""
        if summary.vehicle != self.vehicle:
            return "sensor summary is for a different vehicle than the verifier's"
        return summary.lidar_unusable(self.cfg.min_valid_fraction)

    def stop(self, summary: SensorSummary, reason: str) -> Verified:
        path, _ = self.paths(summary.twist.v, summary.twist.w, self.table[[STOP]])
        return Verified(STOP, 0.0, 0.0, "fallback", reason, path[0], 0.0)

    def verify(self, summary: SensorSummary, scores: np.ndarray, chosen: int,
               motion: Motion | None = None, deadline: float | None = None) -> Verified:
        """Check `chosen`; if it collides, take the best-scoring safe alternative; else stop -- or, when
        something moving makes stopping unsafe too, the command that stays clearest of it among those
        clear of every static hit. `motion`: the hits' velocities (MotionTracker.update on this
        summary); None = a static world. `deadline` (time.perf_counter() seconds): no further
        alternatives are searched past it -- the stop then sent was checked at the last decision."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != NUM_PRIMITIVES or not 0 <= int(chosen) < NUM_PRIMITIVES:
            return self.stop(summary, f"bad decision input (scores {scores.shape}, chosen {chosen})")
        reason = self.unusable_reason(summary)
        if reason:
            return self.stop(summary, reason)
        chosen = int(chosen)
        t_sweep = time.perf_counter()
        pts = self._points(summary, motion)
        clear, path, static, conflict = self._deciding_clearance(summary, np.array([chosen]), motion, split=True,
                                                                 pts=pts)
        sweep_s = time.perf_counter() - t_sweep      # the last sweep's cost: predicts the next one's
        if self.is_safe(clear[0]):
            v, w = self.table[chosen]
            return Verified(chosen, float(v), float(w), "verified", "", path[0], float(clear[0]))
        # Alternatives in score order (NaN scores last): the best `batch` first (it usually holds a safe
        # one), then all the others in one sweep (one call costs less than several small ones).
        # STOP is not an alternative: stopping is what the fallback does, and says why (it is swept with
        # the others, for the fallback to know whether stopping is clear).
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        order = order[(order != chosen) & (order != STOP)]
        last_size = 1
        seen = {chosen: (clear[0], path[0], static[0], conflict[0])}   # primitive -> (clearance, path,
        for batch in (order[:self.cfg.batch], np.append(order[self.cfg.batch:], STOP)):  # static, conflict)
            if not batch.size:
                continue
            # Do not start a sweep that cannot finish by the deadline.
            if deadline is not None and time.perf_counter() + predicted_sweep_s(sweep_s, last_size, batch.size) > deadline:
                return self.stop(summary, f"primitive {chosen} clearance {clear[0]:.2f} m; no time left "
                                          "to search alternatives")
            t_sweep = time.perf_counter()
            clear_b, path_b, static_b, conflict_b = self._deciding_clearance(summary, batch, motion, split=True,
                                                                             pts=pts)
            sweep_s, last_size = time.perf_counter() - t_sweep, batch.size
            seen.update({int(k): (clear_b[j], path_b[j], static_b[j], conflict_b[j]) for j, k in enumerate(batch)})
            safe = np.flatnonzero(self.is_safe(clear_b) & (batch != STOP))
            if safe.size:
                j = safe[0]
                alt = int(batch[j])
                v, w = self.table[alt]
                why = f"primitive {chosen} clearance {clear[0]:.2f} m <= {self.cfg.safety_margin} m"
                if motion is not None and motion.count:
                    why += f" ({motion.count} moving hits)"
                return Verified(alt, float(v), float(w), "corrected", why, path_b[j], float(clear_b[j]))
        why = (f"no safe primitive (chosen {chosen} clearance {clear[0]:.2f} m; "
               f"all {NUM_PRIMITIVES} collide within {self.cfg.horizon} s + braking)")
        clear_s, path_s, _, conflict_s = seen.pop(STOP)
        stop = Verified(STOP, 0.0, 0.0, "fallback", why, path_s, float(clear_s), exhausted=True)
        if motion is None or not motion.count or self.is_safe(clear_s):
            # A static world: the stop was checked at the last decision (commit_time), so it is clear.
            return stop
        # Something moving makes stopping unsafe too: among the commands clear of every static hit, the
        # one meeting a moving hit latest (then the clearest), if that is clearly later than stopping's.
        # (a car keeps car_margin from every static hit: Drive's rails stand 0.8 m outside the paved edge)
        keep = max(self.cfg.car_margin, self.cfg.safety_margin) if self.n_commit else self.cfg.safety_margin
        candidates = [k for k, item in seen.items() if item[2] > keep]
        if not candidates:
            return stop
        best = max(candidates, key=lambda k: (seen[k][3], seen[k][0]))
        if seen[best][3] <= conflict_s + self.cfg.dt:
            return stop
        v, w = self.table[best]
        when = "never" if math.isinf(seen[best][3]) else f"at {seen[best][3]:.1f} s"
        why += (f"; {motion.count} moving hits reach a stop at {conflict_s:.1f} s: primitive {best} "
                f"meets them {when}")
        return Verified(best, float(v), float(w), "fallback", why, seen[best][1], float(seen[best][0]), exhausted=True)
