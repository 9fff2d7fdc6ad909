"""Record real simulator sequences and the sensing + motion-tracker outputs of the code at hand, for
tests/test_tracker_regression.py (the optimised `summarize` / `MotionTracker` must reproduce them).

The expected outputs in tests/data/tracker_regression.npz were produced by the code of commit a5b79c0
(before the issue-7 session-3 optimisations):

    git worktree add /tmp/pre a5b79c0 && cd /tmp/pre && PYTHONPATH=/tmp/pre \
        /work/main/.venv/bin/python /work/main/docs/bench/tracker_regression_data.py \
        /work/main/tests/data/tracker_regression.npz

(PYTHONPATH: the venv's editable install would otherwise import the work tree's `planner`; the script
prints which one it used.) The test replays the recorded inputs only, so the simulator may change
without touching it.

Each sequence: planner/Nav-v0 (split "test", movers on levels 4-5) driven by the privileged expert; the
raw LaserScans the environment produced (float32 ranges, as a LaserScan carries them) are recorded with
the odometry, the model's goal and the previous command. Then, with the code at hand, every scan is
summarised (`planner.sensing.summarize`) and fed in order to one `MotionTracker` (reset at each episode
start). Saved per step: the sectors, state, valid fraction, a digest of the hit points, the tracker's
velocity / moving per hit, the tracks it keeps (stamp, centroid, velocity), and `Verifier.verify`'s
result for seeded scores (`replay_verifier`, Jackal and car). Also saved: digests of
`clean_ranges` / `scan_to_sectors` on 1500 seeded synthetic edge-case scans (`synthetic_scans`).
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np

import planner
from planner.sensing import Pose2D, Scan, SensingConfig, Twist2D, summarize
from planner.vehicles import JACKAL
from planner.verifier import MotionTracker, VerifierConfig

# The recording predates the fitted, smoothed velocity (session 16, a deliberate change of the tracker's
# output): replays run the tracker as it was then, so everything else it does is still compared bit for bit.
# (Fields the code at hand does not have are left out: the script also runs on the old commit.)
RECORDED_TRACKER = {k: v for k, v in dict(motion_fit=0.0, motion_flip_speed=0.0, motion_smoothing=0.0).items()
                    if k in VerifierConfig.__dataclass_fields__}

# (name, level, beams, control_hz, steps, first episode seed)
SEQUENCES = (
    ("L4_720b_50hz", 4, 720, 50.0, 150, 5),
    ("L5_720b_20hz", 5, 720, 20.0, 120, 1),
    ("L5_64b_20hz", 5, 64, 20.0, 200, 2),
    ("L4_64b_10hz", 4, 64, 10.0, 150, 5),
)


def record(level: int, beams: int, control_hz: float, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Raw scans + odometry + goal + previous command of `steps` expert-driven steps (new episodes as needed)."""
    import gymnasium as gym

    import sim  # noqa: F401  (registers the environments)
    import sim.nav_env as nav_env
    env = gym.make("planner/Nav-v0", level=level, split="test", lidar={"beams": beams}, control_hz=control_hz)
    u = env.unwrapped
    assert u.sensing == SensingConfig(lookahead=u.sensing.lookahead), "non-default sensing config"
    scans: list = []
    real_make_scan = nav_env.make_scan

    def spy(*args, **kwargs):
        scan = real_make_scan(*args, **kwargs)
        scans.append(scan)
        return scan
    nav_env.make_scan = spy
    rec = {k: [] for k in ("ranges", "stamp", "pose", "twist", "goal", "prev_cmd", "episode_start", "env_state")}
    try:
        episode = 0
        while len(rec["stamp"]) < steps:
            _, info = env.reset(seed=seed + episode)
            episode += 1
            start = True
            while len(rec["stamp"]) < steps:
                s, scan = info["summary"], scans[-1]
                assert scan.stamp == s.stamp
                rec["ranges"].append(np.asarray(scan.ranges, np.float32))
                rec["stamp"].append(scan.stamp)
                rec["pose"].append((s.pose.x, s.pose.y, s.pose.yaw))
                rec["twist"].append((s.twist.v, s.twist.w))
                rec["goal"].append((s.goal.x, s.goal.y, s.goal.yaw))
                rec["prev_cmd"].append(tuple(u.cmd))       # what the env summarised with
                rec["episode_start"].append(start)
                rec["env_state"].append(s.state)
                start = False
                _, _, term, trunc, info = env.step(u.expert_action())
                if term or trunc:
                    break
        scan0 = scans[0]
        geometry = np.array([scan0.angle_min, scan0.angle_increment, scan0.range_min, scan0.range_max])
    finally:
        nav_env.make_scan = real_make_scan
        env.close()
    out = {k: np.asarray(v) for k, v in rec.items()}
    out["ranges"] = out["ranges"].astype(np.float32)
    out["geometry"] = geometry
    return out


def scan_of(rec: dict[str, np.ndarray], i: int) -> Scan:
    a_min, inc, r_min, r_max = (float(x) for x in rec["geometry"])
    return Scan(ranges=rec["ranges"][i], angle_min=a_min, angle_increment=inc, range_min=r_min,
                range_max=r_max, stamp=float(rec["stamp"][i]))


def summary_of(rec: dict[str, np.ndarray], i: int):
    p, t, g, c = rec["pose"][i], rec["twist"][i], rec["goal"][i], rec["prev_cmd"][i]
    return summarize(scan_of(rec, i), Pose2D(*map(float, p)), Twist2D(*map(float, t)), Pose2D(*map(float, g)),
                     prev_cmd=Twist2D(*map(float, c)), vehicle=JACKAL, cfg=SensingConfig())


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()


def replay(rec: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sensing and tracker outputs of the code at hand on a recorded sequence."""
    tracker = MotionTracker(VerifierConfig(**RECORDED_TRACKER))
    out = {k: [] for k in ("sectors", "state", "valid_fraction", "points_digest", "n_points", "velocity",
                           "moving", "track_step", "track_stamp", "track_centroid", "track_velocity")}
    for i in range(len(rec["stamp"])):
        if rec["episode_start"][i]:
            tracker.reset()
        s = summary_of(rec, i)
        motion = tracker.update(s)
        out["sectors"].append(s.lidar)
        out["state"].append(s.state)
        out["valid_fraction"].append(s.valid_fraction)
        out["points_digest"].append(_digest(np.asarray(s.points)))
        out["n_points"].append(len(s.points))
        out["velocity"].append(motion.velocity)
        out["moving"].append(motion.moving)
        for stamp, centroid, velocity in tracker.tracks:
            out["track_step"].append(i)
            out["track_stamp"].append(stamp)
            out["track_centroid"].append(centroid)
            out["track_velocity"].append(velocity)
    res = {k: np.asarray(out[k]) for k in ("sectors", "state", "valid_fraction", "points_digest", "n_points",
                                           "track_step", "track_stamp")}
    res["track_centroid"] = np.asarray(out["track_centroid"], np.float64).reshape(-1, 2)
    res["track_velocity"] = np.asarray(out["track_velocity"], np.float64).reshape(-1, 2)
    # Per-hit arrays of varying length: concatenated (n_points gives the split).
    res["velocity"] = np.concatenate(out["velocity"]).reshape(-1, 2)
    res["moving"] = np.concatenate(out["moving"]).astype(bool)
    return res


def replay_verifier(rec: dict[str, np.ndarray], seed: int = 11, cfg=None) -> np.ndarray:
    """Verifier.verify of the code at hand along a recorded sequence (every hit, the tracker's motion), for
    a seeded score vector per step: its best primitive and a random one (alternatives, fallbacks), as the
    Jackal and, every 4th step, as the car (the same scan, the car's footprint and kinematics). One text
    per call. `cfg`: the VerifierConfig (default: the current defaults)."""
    import dataclasses

    from planner.vehicles import CAR, NUM_PRIMITIVES
    from planner.verifier import Verifier
    cfg = cfg or VerifierConfig()
    rng = np.random.default_rng(seed)
    tracker = MotionTracker(VerifierConfig(**RECORDED_TRACKER))
    verifiers = {"jackal": (Verifier(JACKAL, cfg), JACKAL), "car": (Verifier(CAR, cfg), CAR)}
    out = []
    for i in range(len(rec["stamp"])):
        if rec["episode_start"][i]:
            tracker.reset()
        s = summary_of(rec, i)
        motion = tracker.update(s)
        scores = rng.normal(size=NUM_PRIMITIVES)
        choices = (int(np.argmax(scores)), int(rng.integers(NUM_PRIMITIVES)))
        for name, (verifier, vehicle) in verifiers.items():
            if vehicle is not JACKAL and i % 4:
                continue                  # the car (mostly fallbacks in these rooms: slow) every 4th step
            summary = s if vehicle is JACKAL else dataclasses.replace(s, vehicle=vehicle)
            for chosen in choices:
                r = verifier.verify(summary, scores, chosen, motion)
                out.append(f"{name} {chosen}: {r.primitive} {r.v!r} {r.w!r} {r.status} {r.clearance!r} "
                           f"{_digest(np.asarray(r.path_robot))[:16]} {r.reason}")
    return np.asarray(out)


def synthetic_scans(count: int = 1500, seed: int = 7):
    """(scan, sensing config, laser yaw) edge cases for scan_to_sectors, from a seeded generator: REP 117
    values (NaN, +-inf, negative, beyond range_max, closer than range_min) in various amounts, all-inf and
    mostly-NaN scans, geometries centred on the field of view, full circle, float32-rounded, off-centre
    (many rejected), 2 to 1440 beams, laser yaws, four sensing configs."""
    import math
    rng = np.random.default_rng(seed)
    cfgs = [SensingConfig(), SensingConfig(num_sectors=32), SensingConfig(fov=2 * math.pi, num_sectors=64),
            SensingConfig(num_sectors=128, range_max=6.0)]
    for t in range(count):
        cfg = cfgs[t % len(cfgs)]
        n = int(rng.choice([2, 10, 63, 64, 65, 100, 256, 271, 360, 720, 1081, 1440]))
        kind = int(rng.integers(4))
        if kind == 0:
            a_min, inc = -cfg.fov / 2, cfg.fov / (n - 1)
        elif kind == 1:
            inc, a_min = 2 * math.pi / n, -math.pi + float(rng.uniform(-0.1, 0.1))
        elif kind == 2:
            fov = cfg.fov * float(rng.uniform(0.97, 1.1))
            a_min, inc = float(np.float32(-fov / 2)), float(np.float32(fov / (n - 1)))
        else:
            a_min, inc = float(rng.uniform(-4, -1)), float(rng.uniform(0.001, 0.05))
        r_min, r_max = float(rng.choice([0.0, 0.05, 0.1, 0.3])), float(rng.choice([5.0, 8.0, 12.0, 30.0]))
        r = rng.uniform(0, r_max * 1.2, n)
        for value, p in ((np.nan, 0.05), (np.inf, 0.1), (-np.inf, 0.03), (-1.0, 0.03), (r_max * 2, 0.03),
                         (0.01, 0.03), (r_max, 0.03)):
            if rng.random() < 0.5:
                r[rng.random(n) < p * rng.uniform(0, 3)] = value
        if rng.random() < 0.2:
            r[:] = np.inf
        if rng.random() < 0.1:
            r[rng.random(n) < 0.9] = np.nan
        dtype = np.float32 if rng.random() < 0.6 else np.float64
        yaw = float(rng.choice([0.0, 0.0, 0.3, -math.pi, 3.0]))
        yield Scan(ranges=r.astype(dtype), angle_min=a_min, angle_increment=inc, range_min=r_min,
                   range_max=r_max), cfg, yaw


def replay_synthetic() -> dict[str, np.ndarray]:
    """scan_to_sectors and clean_ranges of the code at hand on `synthetic_scans()`: digests per scan."""
    from planner.errors import SensorError
    from planner.sensing import clean_ranges, scan_to_sectors
    inputs, outputs = [], []

    def digest(a):
        return _digest(a)[:16]
    for scan, cfg, yaw in synthetic_scans():
        inputs.append(digest(np.asarray(scan.ranges)) + repr((scan.angle_min, scan.angle_increment, scan.range_min,
                                                              scan.range_max, cfg.num_sectors, cfg.fov, yaw)))
        cleaned, usable, problems = clean_ranges(scan)
        text = f"clean {digest(cleaned)} {digest(usable)} {problems}; "
        try:
            sectors, pts, valid, problems = scan_to_sectors(scan, cfg, yaw)
            text += f"sectors {digest(sectors)} points {digest(pts)} valid {valid!r} {problems}"
        except SensorError as exc:
            text += f"SensorError {exc}"
        outputs.append(text)
    return {"input": np.asarray(inputs), "output": np.asarray(outputs)}


def main(path: str) -> None:
    print(f"planner package: {planner.__file__}")
    data = {}
    for name, level, beams, hz, steps, seed in SEQUENCES:
        rec = record(level, beams, hz, steps, seed)
        exp = replay(rec)
        # The reconstruction is what the environment itself summarised (checked on the state and sectors).
        assert all(np.array_equal(summary_of(rec, i).state, s) for i, s in enumerate(rec.pop("env_state")))
        print(f"{name}: {len(rec['stamp'])} steps, {int(rec['episode_start'].sum())} episodes, "
              f"{int(exp['moving'].sum())} moving hits on {int(sum(m.any() for m in np.split(exp['moving'], np.cumsum(exp['n_points'])[:-1])))} steps, "
              f"{len(exp['track_step'])} track rows")
        exp["verify"] = replay_verifier(rec)
        data.update({f"{name}/in/{k}": v for k, v in rec.items()})
        data.update({f"{name}/out/{k}": v for k, v in exp.items()})
    syn = replay_synthetic()
    print(f"synthetic: {len(syn['output'])} scans, {sum('SensorError' in o for o in syn['output'])} rejected")
    data.update({f"synthetic/{k}": v for k, v in syn.items()})
    np.savez_compressed(path, **data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/tracker_regression.npz")
