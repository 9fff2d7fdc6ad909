"""The lidar-only DWA baseline: exact scans for its choices, then real Nav-v0 episodes."""

import gymnasium as gym
import numpy as np
import pytest

import sim  # noqa: F401  (registers the environments)
from planner.vehicles import JACKAL
from scan_geometry import box_segments, summary_for
from sim.dwa import DWAConfig, DWAPlanner


def planner():
    p = DWAPlanner()
    p.setup(JACKAL)
    return p


def test_samples_stay_in_the_dynamic_window():
    p = planner()
    cmds = p.samples(1.0, 0.5)
    dv, dw = JACKAL.max_accel * p.cfg.window, JACKAL.max_yaw_accel * p.cfg.window
    assert cmds.shape == (p.cfg.v_samples * p.cfg.w_samples, 2)
    assert np.all(np.abs(cmds[:, 0] - 1.0) <= dv + 1e-9) and np.all(np.abs(cmds[:, 1] - 0.5) <= dw + 1e-9)
    assert cmds[:, 0].min() >= 0.0 and np.abs(cmds[:, 1]).max() <= JACKAL.max_yaw_rate


def test_heads_for_the_goal_in_open_space():
    p = planner()
    v, w = p.act(None, summary_for(box_segments(-7, -7, 7, 7), goal=(0.0, 5.0)))
    assert w > 0.5                          # goal to the left: turn left
    v, w = p.act(None, summary_for(box_segments(-7, -7, 7, 7), v0=1.0, goal=(6.0, 0.0)))
    assert v > 1.0 and abs(w) < 0.5         # goal ahead: speed up, straight


def test_never_picks_a_colliding_sample():
    # Goal straight behind a wall: the best-scoring motion would go through it.
    s = summary_for([(1.2, -1.0, 1.2, 1.0)], v0=1.0, goal=(4.0, 0.0))
    p = planner()
    cmds, cost = p.score(s)
    clearance, _ = p.verifier.sweep(s, cmds)
    assert np.all(np.isinf(cost[clearance <= p.cfg.safety_margin]))
    v, w = p.act(None, s)
    best = np.flatnonzero((cmds[:, 0] == v) & (cmds[:, 1] == w))
    assert clearance[best[0]] > p.cfg.safety_margin


def test_boxed_in_stops_and_says_why():
    p = planner()
    # Standing in a tight box: staying put is the only admissible sample.
    assert p.act(None, summary_for(box_segments(-0.32, -0.28, 0.32, 0.28))) == (0.0, 0.0)
    # Driving at 2 m/s 0.6 m from a wall: nothing (not even braking) avoids it.
    assert p.act(None, summary_for([(0.85, -2.0, 0.85, 2.0)], v0=2.0)) == (0.0, 0.0)
    assert "no valid trajectories" in p.last_status


def test_config_is_validated():
    from planner.errors import ConfigError
    with pytest.raises(ConfigError):
        DWAConfig(sim_time=1.0).validate()


def test_reaches_the_goal_in_nav_level_0_and_1():
    env = gym.make("planner/Nav-v0", level=0, split="val")
    p = DWAPlanner()
    outcomes = []
    for level, seed in ((0, 0), (1, 1)):
        _, info = env.reset(seed=seed, options={"level": level})
        p.reset(env)
        for _ in range(2000):
            _, _, term, trunc, info = env.unwrapped.step_command(*p.act(env, info["summary"]))
            if term or trunc:
                break
        outcomes.append(info["outcome"])
    env.close()
    assert outcomes == ["success", "success"]
