"""The privileged expert: reaches goals around static and moving obstacles, gives valid labels."""
import numpy as np
import pytest

from planner.sensing import Pose2D
from planner.vehicles import NUM_PRIMITIVES
from sim.expert import Expert
from sim.nav_env import NavEnv
from sim.worlds import TEST_SEEDS, Box, Mover, World


def drive(env, **reset):
    env.reset(seed=0, **reset)
    while True:
        a = env.expert_action()
        assert 0 <= a < NUM_PRIMITIVES
        _, _, term, trunc, info = env.step(a)
        if term or trunc:
            return info


def test_expert_escapes_a_dead_end_it_starts_in():
    # A U-shaped trap opening away from the goal: straight-line greed fails, the cost-to-go does not.
    trap = [Box(1.2, 0, 0.1, 1.2), Box(0.2, 1.1, 1.0, 0.1), Box(0.2, -1.1, 1.0, 0.1)]
    world = World(trap, Pose2D(0.3, 0, 0.0), Pose2D(4.0, 0.0), (-4, -4, 5, 4))
    info = drive(NavEnv(world=world))
    assert info["outcome"] == "success", info["metrics"]
    assert info["metrics"]["path_length"] > 6.0          # it had to go around


def test_expert_waits_for_or_avoids_a_crossing_mover():
    mover = Mover(0.3, 0.3, (2.5, -3.0), (2.5, 3.0), speed=1.5, phase=0.25)
    world = World([], Pose2D(0, 0, 0), Pose2D(5, 0), (-2, -4, 7, 4), movers=[mover])
    info = drive(NavEnv(world=world))
    assert info["outcome"] == "success", info["metrics"]


@pytest.mark.parametrize("level", [3, 5])
def test_expert_solves_generated_levels(level):
    env = NavEnv(level=level, split="test")
    outcomes = [drive(env, options={"world_seed": TEST_SEEDS.start + i})["outcome"] for i in range(2)]
    assert outcomes == ["success", "success"]


def test_expert_scores_mark_colliding_primitives_infeasible():
    world = World([Box(0.9, 0, 0.2, 2.0)], Pose2D(0, 0, 0), Pose2D(4, 3), (-4, -4, 5, 4))
    ex = Expert(world, NavEnv().vehicle)
    cost, _ = ex.scores(0.0, 0.0, 0.0, 2.0, 0.0, 0.0)   # at full speed towards a wall 0.45 m away
    straight_fast = 4 * 9 - 5                              # v = max, w = 0 (index of turn 0.0 in the last row)
    assert not np.isfinite(cost[straight_fast])


@pytest.mark.slow
def test_expert_success_on_every_level_of_the_test_suite():
    """The >= 98% target is measured with `planner eval --suite nav --episodes 100` (docs/BENCHMARKS.md);
    this guards regressions on 20 test worlds per level (at most one failure per level)."""
    from planner.evaluation import evaluate
    res = evaluate("nav", planners=["expert"], episodes=20)
    for level, entry in res["planners"]["expert"]["levels"].items():
        assert entry["summary"]["success"] >= 0.95, (level, entry["summary"])
        assert entry["summary"]["collision"] == 0.0, (level, entry["summary"])


def _closest_approach(margin):
    # A mover timed so that the default expert slips past it (0.9 m centre to centre)
    mover = Mover(0.3, 0.3, (2.5, -3.0), (2.5, 3.0), speed=0.8, phase=0.1)
    world = World([], Pose2D(0, 0, 0), Pose2D(5, 0), (-2, -4, 7, 4), movers=[mover])
    env = NavEnv(world=world, expert_mover_margin=margin)
    env.reset(seed=0)
    closest = np.inf
    while True:
        _, _, term, trunc, info = env.step(env.expert_action())
        mx, my = mover.position(env.t)
        closest = min(closest, float(np.hypot(env.x - mx, env.y - my)))
        if term or trunc:
            return info["outcome"], closest


def test_a_more_cautious_labelling_expert_keeps_further_from_a_mover():
    # Training labels may come from an expert with a wider mover margin (imitation.expert_mover_margin):
    # the learner cannot know a mover's future, so it should not learn the privileged near misses.
    outcome_default, closest_default = _closest_approach(0.15)
    outcome_cautious, closest_cautious = _closest_approach(0.5)
    assert outcome_default == outcome_cautious == "success"
    assert closest_cautious > closest_default + 0.25, (closest_default, closest_cautious)


def test_expert_mover_margin_is_validated_and_reaches_only_nav_envs():
    from planner.errors import ConfigError
    from planner.training.envs import ScenarioMixEnv
    with pytest.raises(ConfigError, match="expert_mover_margin"):
        NavEnv(expert_mover_margin=-0.1)
    with pytest.raises(ValueError, match="mover_margin"):
        Expert(World([], Pose2D(0, 0, 0), Pose2D(4, 0), (-4, -4, 5, 4)), NavEnv().vehicle, mover_margin=3.0)
    env = ScenarioMixEnv(("nav", "drive"), (), seed=0, nav_kwargs={"expert_mover_margin": 0.4})
    try:
        assert env._envs["nav"].unwrapped.expert_mover_margin == 0.4
        env.reset(options={"scenario": ("drive", 0, 0)})      # Drive-v0 takes no such argument
        assert 0 <= env.expert_action() < NUM_PRIMITIVES
    finally:
        env.close()
