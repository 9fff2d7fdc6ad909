"""planner/Nav-v0: Gymnasium contract, observation built by summarize(), outcomes, metrics, errors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim  # noqa: F401
from planner.errors import ConfigError, MapError
from planner.sensing import STATE_DIM, Pose2D, SensorSummary
from planner.vehicles import NUM_PRIMITIVES, STOP
from sim.metrics import OUTCOMES
from sim.nav_env import NavEnv, RewardConfig
from sim.worlds import TEST_SEEDS, Box, Mover, World


def test_both_envs_are_registered_and_import_is_cheap():
    assert "planner/Nav-v0" in gym.registry and "planner/Drive-v0" in gym.registry
    assert gym.registry["planner/Nav-v0"].entry_point == "sim.nav_env:NavEnv"
    assert gym.registry["planner/Drive-v0"].entry_point == "sim.drive_env:DriveEnv"


@pytest.mark.parametrize("level", [0, 5])
def test_check_env_passes(level):
    env = gym.make("planner/Nav-v0", level=level)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_observation_is_the_sensor_summary():
    env = NavEnv(level=2)
    obs, info = env.reset(seed=3)
    s = info["summary"]
    assert isinstance(s, SensorSummary)
    assert obs["lidar"].shape == (64,) and obs["lidar"].dtype == np.float32
    assert obs["state"].shape == (STATE_DIM,)
    assert np.array_equal(obs["lidar"], s.lidar) and np.array_equal(obs["state"], s.state)
    assert env.observation_space.contains(obs) and env.action_space.n == NUM_PRIMITIVES
    obs2, _, _, _, info2 = env.step(STOP)
    assert np.array_equal(obs2["state"], info2["summary"].state)
    # Same seed -> same world and same (noisy) observation; different seed -> different world.
    again, info3 = env.reset(seed=3)
    assert np.array_equal(again["lidar"], obs["lidar"]) and info3["world_seed"] == info["world_seed"]
    assert env.reset(seed=4)[1]["world_seed"] != info["world_seed"]
    env.close()


def test_step_command_and_acceleration_limits():
    env = NavEnv(level=0)
    env.reset(seed=0, options={"world_seed": 7})
    out = env.step_command(5.0, 0.0)                    # clipped to max speed, accel-limited
    assert len(out) == 5 and "summary" in out[4]
    assert env.v == pytest.approx(env.vehicle.max_accel * env.dt)
    for _ in range(40):
        env.step_command(5.0, 0.0)
    assert env.v == pytest.approx(env.vehicle.max_speed)
    with pytest.raises(ValueError):
        env.step_command(float("nan"), 0.0)
    with pytest.raises(ValueError):
        env.step(NUM_PRIMITIVES)
    env.close()


def test_collision_ends_the_episode_with_metrics():
    world = World([Box(2.0, 0.0, 0.3, 1.0)], Pose2D(0, 0, 0), Pose2D(4, 0), (-5, -5, 5, 5))
    env = NavEnv(world=world)
    env.reset(seed=0)
    for _ in range(100):
        _, r, term, trunc, info = env.step_command(1.0, 0.0)
        if term or trunc:
            break
    assert term and info["outcome"] == "collision" and r < -5
    m = info["metrics"]
    assert m["collision"] and not m["success"] and m["spl"] == 0 and m["barn_score"] == 0
    assert 1.0 < m["path_length"] < 1.8 and m["min_clearance"] < 0.1
    env.close()


def test_success_timeout_and_metrics_fields():
    world = World([], Pose2D(0, 0, 0), Pose2D(3, 0), (-5, -5, 5, 5))
    env = NavEnv(world=world)
    env.reset(seed=0)
    while True:
        _, r, term, trunc, info = env.step_command(2.0, 0.0)
        if term or trunc:
            break
    m = info["metrics"]
    assert info["outcome"] == "success" and m["success"] and r > 5
    assert set(OUTCOMES) <= set(m) and sum(m[k] for k in OUTCOMES) == 1
    assert m["path_length"] == pytest.approx(2.5, abs=0.15)
    assert 0.9 < m["spl"] <= 1.0 and 0 < m["barn_score"] <= 0.5
    assert m["mean_abs_jerk"] > 0
    env = NavEnv(world=world, max_episode_steps=5)
    env.reset(seed=0)
    for _ in range(5):
        _, _, term, trunc, info = env.step(STOP)
    assert trunc and not term and info["outcome"] == "timeout"


def test_reward_weights_are_configurable():
    world = World([], Pose2D(0, 0, 0), Pose2D(3, 0), (-5, -5, 5, 5))
    rewards = []
    for cfg in (RewardConfig(), {"time": -1.0}):
        env = NavEnv(world=world, reward=cfg)
        env.reset(seed=0)
        rewards.append(env.step(STOP)[1])
    assert rewards[1] == pytest.approx(rewards[0] - RewardConfig().time - 1.0)
    with pytest.raises(ConfigError, match="reward.bogus"):
        NavEnv(reward={"bogus": 1.0})


def test_moving_obstacle_can_hit_a_waiting_robot():
    m = Mover(0.25, 0.25, (0.0, -3.0), (0.0, 3.0), speed=1.0, phase=0.0)
    world = World([], Pose2D(0, 0.0, 0), Pose2D(4, 0), (-5, -5, 5, 5), movers=[m])
    env = NavEnv(world=world)
    env.reset(seed=0)
    for _ in range(80):
        _, _, term, _, info = env.step(STOP)
        if term:
            break
    assert info["outcome"] == "collision"


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="level"):
        gym.make("planner/Nav-v0", level=99)
    with pytest.raises(ConfigError, match="split"):
        NavEnv(split="holdout")
    with pytest.raises(ConfigError, match="lidar"):
        NavEnv(lidar={"beams": 16})                      # fewer beams than the model's 64 sectors
    with pytest.raises(ConfigError, match="max_episode_steps"):
        NavEnv(max_episode_steps=0)
    env = NavEnv(split="test")
    with pytest.raises(ConfigError, match="not in the test range"):
        env.reset(options={"world_seed": 5})
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(options={"colour": 1})
    with pytest.raises(MapError, match="start"):
        NavEnv(world=World([Box(0, 0, 1, 1)], Pose2D(0, 0), Pose2D(3, 3), (-5, -5, 5, 5)))
    with pytest.raises(RuntimeError, match="reset"):
        NavEnv().step(0)


def test_split_and_level_options_and_render():
    env = NavEnv(level=1, split="test", render_mode="rgb_array")
    _, info = env.reset(seed=0, options={"level": 3})
    assert info["level"] == 3 and info["world_seed"] in TEST_SEEDS
    env.step(0)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    env.set_level(4)
    assert env.reset(seed=1)[1]["level"] == 4
    env.close()


def test_config_file_documents_the_defaults(tmp_path):
    from sim.core import LidarConfig
    from sim.nav_env import env_kwargs_from_yaml
    from planner.sensing import SensingConfig
    kw = env_kwargs_from_yaml("config/sim.yaml")
    assert kw["lidar"] == LidarConfig() and kw["reward"] == RewardConfig()
    assert kw["sensing"] == SensingConfig()
    env = NavEnv(**kw)
    env.reset(seed=0)
    env.close()
    bad = tmp_path / "sim.yaml"
    bad.write_text("nav:\n  lidar:\n    beems: 64\n")
    with pytest.raises(ConfigError, match="beems"):
        env_kwargs_from_yaml(bad)


def test_guidance_path_gives_the_global_paths_lookahead_point_as_the_goal():
    # A wall across the arena with one gap at the top: the straight line start->goal hits the wall,
    # the global path goes through the gap, so the model's goal must point there, not at the goal.
    wall = [Box(0.0, -2.5, 0.1, 2.5), Box(0.0, 4.6, 0.1, 0.4)]      # gap between y=0 and y=4.2
    world = World(obstacles=wall, start=Pose2D(-3.0, -2.0, 0.0), goal=Pose2D(3.0, -2.0, 0.0),
                  bounds=(-5.0, -5.0, 5.0, 5.0))
    env = NavEnv(world=world)
    _, info = env.reset(seed=0)
    s = info["summary"]
    look = env.sensing.lookahead
    dist = np.hypot(s.goal.x - s.pose.x, s.goal.y - s.pose.y)
    assert look - 0.3 <= dist <= look + 0.05          # a lookahead point, not the goal 6 m away
    assert s.goal.y > s.pose.y + 0.5                   # heading up towards the gap
    # Near the end of the path the lookahead point is the goal itself.
    env.unwrapped.x, env.unwrapped.y = 2.0, -2.0
    near = env.unwrapped.local_goal(Pose2D(2.0, -2.0, 0.0))
    assert (near.x, near.y) == pytest.approx((3.0, -2.0))
    env.close()
    goal_only = NavEnv(world=world, guidance="goal")
    s2 = goal_only.reset(seed=0)[1]["summary"]
    assert (s2.goal.x, s2.goal.y) == (3.0, -2.0)
    goal_only.close()
    with pytest.raises(ConfigError, match="guidance"):
        NavEnv(guidance="gps")


def test_true_motion_marks_the_hits_on_a_mover_with_its_velocity():
    # The diagnosis tools (docs/bench/verifier_val_ab.py --oracle, tracker_velocity_ab.py) score the tracker
    # against this: a box crossing 3 m ahead of the robot at 1 m/s, a static wall behind it.
    mover = Mover(0.25, 0.25, (3.0, -2.0), (3.0, 2.0), 1.0, phase=0.25)     # at (3, 0) at t = 0, going +y
    world = World(obstacles=[Box(5.0, 0.0, 0.1, 3.0)], movers=[mover], start=Pose2D(0.0, 0.0, 0.0),
                  goal=Pose2D(6.0, 2.0), bounds=(-3.0, -4.0, 8.0, 4.0))
    env = NavEnv(world=world, split=None)
    try:
        _, info = env.reset(seed=0)
        pts = info["summary"].points
        velocity, on_mover = env.true_motion(pts)
        lagged, _ = env.true_motion(pts, lag=3.0)       # 3 s ago it was on its way back from b
    finally:
        env.close()
    near = np.hypot(pts[:, 0] - 3.0, pts[:, 1]) < 0.35
    assert near.any() and on_mover[near].all()
    assert not on_mover[pts[:, 0] > 4.0].any()                        # the wall is static
    assert np.allclose(velocity[on_mover], [0.0, 1.0], atol=1e-6)     # robot frame = world frame here
    assert np.allclose(velocity[~on_mover], 0.0)
    assert np.allclose(lagged[on_mover], [0.0, -1.0], atol=1e-6)
