"""The sensing and motion-tracker outputs on real simulator sequences stay exactly what the code of
a5b79c0 produced (before the per-scan work was optimised for issue 7): the tracker's output is model
input, so an optimisation must not change a single bit of it.

tests/data/tracker_regression.npz holds four recorded planner/Nav-v0 sequences (levels 4-5 with movers,
720- and 64-beam lidar, 10-50 Hz; raw float32 LaserScan ranges + odometry + goal + previous command) and
the outputs of the old code; docs/bench/tracker_regression_data.py records them and replays them (the
replay used here). Compared exactly (np.array_equal, bit for bit): sectors, state, valid fraction, the hit
points (sha256), Motion.velocity and Motion.moving per hit, and the tracks kept after every scan.
The tracker runs with the velocity estimator of the recording (the 0.4 s pair: RECORDED_TRACKER in the
script); session 16's fitted velocity is a deliberate change, tested in tests/test_verifier_safety.py.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "tracker_regression.npz"


def _generator():
    spec = importlib.util.spec_from_file_location("tracker_regression_data",
                                                  ROOT / "docs" / "bench" / "tracker_regression_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
SAVED = np.load(DATA)
NAMES = sorted({k.split("/")[0] for k in SAVED.files} - {"synthetic"})


def _part(name: str, kind: str) -> dict[str, np.ndarray]:
    prefix = f"{name}/{kind}/"
    return {k[len(prefix):]: SAVED[k] for k in SAVED.files if k.startswith(prefix)}


def test_sequences_cover_what_matters():
    """The recording is worth comparing against: both scan sizes, movers seen moving, tracks kept."""
    assert {n.split("_")[1] for n in NAMES} == {"720b", "64b"}
    for name in NAMES:
        rec, exp = _part(name, "in"), _part(name, "out")
        beams = rec["ranges"].shape[1]
        assert rec["ranges"].dtype == np.float32 and len(rec["stamp"]) >= 100
        assert exp["moving"].sum() >= 300, name                       # moving hits on many scans
        assert len(exp["track_step"]) >= 100, name
        assert exp["n_points"].max() <= beams and exp["moving"].size == exp["n_points"].sum()


@pytest.mark.parametrize("name", NAMES)
def test_sensing_and_tracker_outputs_unchanged(name):
    rec, exp = _part(name, "in"), _part(name, "out")
    got = GEN.replay(rec)
    for key in ("sectors", "state", "valid_fraction", "n_points", "points_digest"):
        assert np.array_equal(got[key], exp[key]), f"{name}: {key} differs from the recorded output"
    assert np.array_equal(got["moving"], exp["moving"]), \
        f"{name}: Motion.moving differs on {int((got['moving'] != exp['moving']).sum())} hits"
    diff = np.abs(got["velocity"] - exp["velocity"]).max()
    assert np.array_equal(got["velocity"], exp["velocity"]), f"{name}: Motion.velocity differs (max {diff:.3g} m/s)"
    for key in ("track_step", "track_stamp", "track_centroid", "track_velocity"):
        assert got[key].shape == exp[key].shape and np.array_equal(got[key], exp[key]), \
            f"{name}: tracks differ ({key})"


def test_scan_to_sectors_edge_cases_unchanged():
    """clean_ranges / scan_to_sectors on 1500 seeded synthetic scans (NaN, +-inf, negative, beyond
    range_max, too close; full circle, float32 and off-centre geometries, laser yaws, four sensing configs,
    636 of them rejected with a SensorError): the same outputs, digest for digest, and the same errors."""
    got = GEN.replay_synthetic()
    assert np.array_equal(got["input"], SAVED["synthetic/input"]), \
        "the seeded synthetic scans differ from the recorded ones (numpy's generator changed?): regenerate"
    bad = np.flatnonzero(got["output"] != SAVED["synthetic/output"])
    assert bad.size == 0, f"{bad.size} scans differ, first {bad[0]}: {got['output'][bad[0]]} != " \
                          f"{SAVED['synthetic/output'][bad[0]]}"


@pytest.mark.parametrize("name", NAMES)
def test_verifier_results_unchanged(name):
    """Verifier.verify along the recorded sequence (every hit, the tracker's motion, seeded scores; the
    best and a random primitive; Jackal and car): the same primitive, command, status, clearance, path
    (digest) and reason as the old code, call for call. The recording predates reversal_horizon (moving
    hits also swept turned back, a deliberate change of decisions): with it off, nothing else changed."""
    from planner.verifier import VerifierConfig
    got = GEN.replay_verifier(_part(name, "in"), cfg=VerifierConfig(reversal_horizon=0.0))
    exp = SAVED[f"{name}/out/verify"]
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, f"{name}: {bad.size} of {exp.size} results differ, first: {got[bad[0]]} != {exp[bad[0]]}"
