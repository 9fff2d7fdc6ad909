"""Test helper: an exact 2D lidar against line segments (the verifier's tests need real geometry
without a simulator), and a sensor summary built from it through the real `summarize`."""
from __future__ import annotations

import math

import numpy as np

from planner.sensing import Pose2D, Scan, SensingConfig, Twist2D, summarize
from planner.vehicles import JACKAL

FOV = 2 * math.pi


def box_segments(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float, float, float]]:
    return [(x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)]


def cast(segments, beams: int = 720, range_max: float = 8.0) -> Scan:
    """Scan from the origin (robot frame, full circle): distance to the nearest segment per beam."""
    ang = -math.pi + (2 * math.pi / beams) * np.arange(beams)
    d = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    ranges = np.full(beams, np.inf)
    for x0, y0, x1, y1 in segments:
        e = np.array([x1 - x0, y1 - y0])
        denom = d[:, 0] * (-e[1]) - d[:, 1] * (-e[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (x0 * (-e[1]) - y0 * (-e[0])) / denom          # range along the beam
            u = (d[:, 0] * y0 - d[:, 1] * x0) / denom          # position along the segment
        hit = (np.abs(denom) > 1e-12) & (t > 0) & (u >= 0) & (u <= 1)
        ranges = np.where(hit & (t < ranges), t, ranges)
    ranges[ranges > range_max] = np.inf
    return Scan(ranges=ranges, angle_min=-math.pi, angle_increment=2 * math.pi / beams,
                range_min=0.05, range_max=range_max)


def summary_for(segments, v0=0.0, w0=0.0, goal=(5.0, 0.0), vehicle=JACKAL, beams=720, range_max=8.0):
    cfg = SensingConfig(num_sectors=64, fov=FOV, range_max=range_max)
    return summarize(cast(segments, beams, range_max), Pose2D(), Twist2D(v0, w0), Pose2D(*goal),
                     vehicle=vehicle, cfg=cfg)


def rect_point_distance(pose, pts, half_length, half_width) -> float:
    """Brute-force reference: distance from points to a rectangle sampled densely on its boundary
    (or 0 when a point is inside)."""
    x, y, yaw = pose
    c, s = math.cos(yaw), math.sin(yaw)
    local = (pts - [x, y]) @ np.array([[c, -s], [s, c]])
    inside = (np.abs(local[:, 0]) <= half_length) & (np.abs(local[:, 1]) <= half_width)
    if inside.any():
        return 0.0
    t = np.linspace(-1, 1, 401)
    edge = np.concatenate([np.stack([t * half_length, np.full_like(t, half_width)], 1),
                           np.stack([t * half_length, np.full_like(t, -half_width)], 1),
                           np.stack([np.full_like(t, half_length), t * half_width], 1),
                           np.stack([np.full_like(t, -half_length), t * half_width], 1)])
    return float(np.min(np.linalg.norm(local[:, None, :] - edge[None], axis=2)))
