"""The model's lidar input with predicted motion: the simulator (training) and the runtime (robot) feed
the network the same array, movers are drawn where they are going, old model cards get the raw scan."""
import json
import math
import shutil

import gymnasium as gym
import numpy as np
import pytest

import sim  # noqa: F401  (registers the envs)
from planner.export import export_untrained
from planner.runtime import Planner, RuntimeConfig
from planner.sensing import (MOTION_SAMPLES, Pose2D, SensingConfig, SensorSummary, Twist2D,
                             with_predicted_motion)


def _summary(points, cfg=SensingConfig()):
    return SensorSummary(lidar=np.ones(cfg.num_sectors, np.float32), state=np.zeros(12, np.float32),
                         points=np.asarray(points, float), pose=Pose2D(), twist=Twist2D(), goal=Pose2D(5, 0),
                         goal_robot=(5.0, 0.0), stamp=0.0, sensing=cfg)


def _sector(cfg, x, y):
    return int((math.atan2(y, x) + cfg.fov / 2) / cfg.fov * cfg.num_sectors)


def test_a_moving_hit_is_drawn_along_its_predicted_track_and_slow_or_far_ones_are_not():
    cfg = SensingConfig(motion_lookahead=1.0)
    s = _summary([[2.0, 0.0], [3.0, 0.0], [6.0, 0.0]], cfg)
    vel = np.array([[0.0, 1.0], [0.0, 0.2], [0.0, 1.0]])     # fast + near, slow + near, fast + far
    out = with_predicted_motion(s, vel, np.array([True, True, True]))
    assert out.dtype == np.float32 and out.shape == (cfg.num_sectors,)
    drawn = np.flatnonzero(out < 1.0)
    expected = {_sector(cfg, 2.0, cfg.motion_lookahead * k / MOTION_SAMPLES) for k in range(1, MOTION_SAMPLES + 1)}
    assert set(drawn) == expected
    end = _sector(cfg, 2.0, cfg.motion_lookahead)
    assert out[end] == pytest.approx(math.hypot(2.0, cfg.motion_lookahead) / cfg.range_max, rel=1e-6)
    # Not moving, or prediction switched off: the scan as it is.
    assert np.array_equal(with_predicted_motion(s, vel, np.zeros(3, bool)), s.lidar)
    off = _summary(s.points, SensingConfig(motion_lookahead=0.0))
    assert np.array_equal(with_predicted_motion(off, vel, np.ones(3, bool)), off.lidar)


def _record(env, steps):
    obs, info = env.reset(seed=3)
    out = [(obs, info["summary"])]
    for _ in range(steps):
        obs, _, term, trunc, info = env.step(env.unwrapped.expert_action())
        out.append((obs, info["summary"]))
        if term or trunc:
            break
    return out


@pytest.fixture(scope="module")
def mover_episode():
    env = gym.make("planner/Nav-v0", level=5, split="val", sensing={"motion_lookahead": 1.0})
    try:
        return _record(env, 160)
    finally:
        env.close()


class _Spy:
    """Wraps the real ONNX backend and keeps the lidar each first pass was given."""

    def __init__(self, backend):
        self.backend, self.lidar = backend, []

    def first(self, lidar, state):
        self.lidar.append(np.array(lidar[0]))
        return self.backend.first(lidar, state)

    def step(self, *args):
        return self.backend.step(*args)


def _card(tmp_path, name, motion_lookahead):
    """An untrained model whose card says it was trained with `motion_lookahead` (None: a card written
    before the field existed)."""
    card_path = export_untrained(tmp_path / name, "mini")
    card = json.loads(card_path.read_text())
    if motion_lookahead is None:
        del card["sensing"]["motion_lookahead"]
    else:
        card["sensing"]["motion_lookahead"] = motion_lookahead
    card_path.write_text(json.dumps(card))
    return str(card_path)


def test_runtime_feeds_the_network_exactly_what_the_simulator_trained_it_on(mover_episode, tmp_path):
    planner = Planner(RuntimeConfig(model_path=_card(tmp_path, "m", 1.0), deadline_ms=1000))
    assert planner.sensing_config.motion_lookahead > 0
    planner.backend = spy = _Spy(planner.backend)
    planner.reset()
    fed, drawn = [], 0
    for obs, summary in mover_episode:
        n = len(spy.lidar)
        planner.decide(summary)
        if len(spy.lidar) > n:
            fed.append((spy.lidar[-1], obs["lidar"]))
        drawn += bool((obs["lidar"] < summary.lidar).any())
    assert len(fed) > 100
    assert all(np.array_equal(a, b) for a, b in fed)
    assert drawn >= 10          # level 5 has four movers crossing the robot's corridor


def test_a_card_written_before_predicted_motion_gets_the_raw_scan(mover_episode, tmp_path):
    planner = Planner(RuntimeConfig(model_path=_card(tmp_path, "old", None), deadline_ms=1000))
    assert planner.sensing_config.motion_lookahead == 0.0
    planner.backend = spy = _Spy(planner.backend)
    planner.reset()
    for _, summary in mover_episode:
        n = len(spy.lidar)
        planner.decide(summary)
        if len(spy.lidar) > n:
            assert np.array_equal(spy.lidar[-1], summary.lidar)
    assert planner.last.get("moving_hits") is not None     # the verifier still tracks motion
    shutil.rmtree(tmp_path / "old")


def test_predicted_motion_is_off_by_default_in_the_simulator_and_its_observation_is_the_raw_scan():
    assert SensingConfig().motion_lookahead == 0.0
    env = gym.make("planner/Nav-v0", level=5, split="val")
    try:
        for obs, summary in _record(env, 60):
            assert np.array_equal(obs["lidar"], summary.lidar)
        assert not env.unwrapped.model_input.tracker.history      # no tracking work when nothing is drawn
    finally:
        env.close()
