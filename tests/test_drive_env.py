"""planner/Drive-v0 on real PyBullet: the Gymnasium contract, road worlds, each outcome, the expert."""
import math

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import sim  # noqa: F401  (registers the environments)
from planner.vehicles import CAR, NUM_PRIMITIVES, SPEED_FRACTIONS, STOP, TURN_FRACTIONS
from sim.drive_env import DriveEnv
from sim.roads import NUM_ROAD_LEVELS, generate_road
from sim.worlds import InvalidLevel

N_TURN = len(TURN_FRACTIONS)
FULL_AHEAD = (len(SPEED_FRACTIONS) - 1) * N_TURN + TURN_FRACTIONS.index(0.0)
FULL_LEFT = (len(SPEED_FRACTIONS) - 1) * N_TURN + TURN_FRACTIONS.index(1.0)


@pytest.fixture(scope="module")
def env():
    e = gym.make("planner/Drive-v0", level=1, split="val")
    yield e
    e.close()


def run(env, policy, max_steps=3000):
    for _ in range(max_steps):
        _, _, term, trunc, info = env.step(policy())
        if term or trunc:
            return info
    raise AssertionError("episode did not end")


def test_check_env_passes():
    e = DriveEnv(level=3, split="val")
    check_env(e, skip_render_check=True)
    e.close()


def test_same_contract_as_nav(env):
    nav = gym.make("planner/Nav-v0")
    assert env.action_space == nav.action_space == gym.spaces.Discrete(NUM_PRIMITIVES)
    assert env.observation_space == nav.observation_space
    obs, info = env.reset(seed=0)
    assert set(info) >= {"summary", "level", "world_seed"}
    assert info["summary"].vehicle == CAR and info["level"] == 1
    assert env.observation_space.contains(obs)
    nav.close()


def test_road_worlds_are_seeded_and_levels_checked():
    a, b = generate_road(4, 123), generate_road(4, 123)
    assert a.obstacles == b.obstacles and a.movers == b.movers
    assert generate_road(4, 124).obstacles != a.obstacles
    assert a.mover_kinds.count("pedestrian") == 4 and a.mover_kinds.count("car") == 2
    with pytest.raises(InvalidLevel):
        generate_road(NUM_ROAD_LEVELS, 0)
    with pytest.raises(InvalidLevel):
        DriveEnv(level=-1)


def test_crash_into_a_parked_car(env):
    env.reset(seed=1)
    info = run(env, lambda: FULL_AHEAD)          # level 1: a parked car in our lane at ~25-31 m
    assert info["outcome"] == "collision" and info["metrics"]["collision"]
    assert 15.0 < env.unwrapped.x < 35.0


def test_leaving_the_road_is_out_of_road(env):
    env.reset(seed=2)
    info = run(env, lambda: FULL_LEFT)
    assert info["outcome"] == "out_of_road"
    assert info["metrics"]["out_of_road"] and not info["metrics"]["collision"]


def test_timeout():
    e = DriveEnv(level=0, split="val", max_episode_steps=20)
    e.reset(seed=0)
    info = run(e, lambda: STOP)
    assert info["outcome"] == "timeout" and info["metrics"]["timeout"]
    e.close()


@pytest.mark.parametrize("level", [2, 4])
def test_expert_passes_traffic_and_pedestrians(level):
    e = DriveEnv(level=level, split="val")
    e.reset(seed=5)
    lanes = []
    for _ in range(5000):
        _, _, term, trunc, info = e.step(e.expert_action())
        lanes.append(e.y > 0)
        if term or trunc:
            break
    assert info["outcome"] == "success", info["metrics"]
    assert any(lanes)               # it used the passing lane at some point
    assert e.x >= e.world.destination_x
    e.close()


@pytest.mark.slow
def test_expert_success_rate_at_least_95_percent():
    e = DriveEnv(level=0, split="val")
    for level in range(NUM_ROAD_LEVELS):
        wins = 0
        for seed in range(20):
            e.reset(seed=seed, options={"level": level})
            while True:
                _, _, term, trunc, info = e.step(e.expert_action())
                if term or trunc:
                    break
            wins += info["outcome"] == "success"
        assert wins >= 19, (level, wins)
    e.close()


def test_steering_rate_and_acceleration_are_limited():
    e = DriveEnv(level=0, split="val")
    e.reset(seed=0)
    for _ in range(40):                      # 2 s straight ahead: 3 m/s^2 from standstill
        e.step(FULL_AHEAD)
    assert e.v == pytest.approx(min(CAR.max_speed, 40 * 0.05 * CAR.max_accel), abs=1e-6)
    steer0 = e.steer
    e.step(FULL_LEFT)                        # full lock asked: the wheel turns 0.8 rad/s * 0.05 s
    assert e.steer - steer0 == pytest.approx(CAR.max_steer_rate * e.dt, abs=1e-9)
    assert e.w == pytest.approx(e.v * math.tan(e.steer) / CAR.wheelbase, rel=1e-6)
    for _ in range(14):                      # 0.55 rad of lock takes 0.69 s
        _, _, term, _, _ = e.step(FULL_LEFT)
        assert not term
    assert e.steer == pytest.approx(CAR.max_steer, abs=1e-9)
    e.close()
