"""Per-vehicle sensing: the model card stores one SensingConfig (Nav's, the jackal's), but the car was
trained in planner/Drive-v0 with a 30 m range and an 8 m carrot. The runtime (and so the ROS node) must
build a car's model input the way Drive-v0 did. Real objects throughout: the shipped model, a real
DriveEnv, a real PlannerNode fed the env's own scan."""
import dataclasses
import math
import os
import random

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter

import sim.nav_env
from planner.errors import ConfigError
from planner.export import card_config, load_card
from planner.runtime import Planner, RuntimeConfig
from planner.sensing import VEHICLE_SENSING, SensingConfig, vehicle_sensing
from planner.vehicles import CAR, VEHICLES
from ros_nodes import convert
from ros_nodes.planner_node import PlannerNode, shipped_model
from sim.drive_env import DRIVE_SENSING, DriveEnv

GEOMETRY = ("num_sectors", "fov", "range_max", "lookahead", "motion_max_range")


def test_every_vehicle_has_a_sensing_config_and_the_car_is_drives():
    assert set(VEHICLE_SENSING) == set(VEHICLES)
    assert vehicle_sensing("jackal") == SensingConfig()
    car = vehicle_sensing("car")
    assert (car.num_sectors, car.fov, car.range_max, car.lookahead, car.motion_max_range) == \
        (64, 1.5 * math.pi, 30.0, 8.0, 15.0)
    assert DRIVE_SENSING == car
    with pytest.raises(ConfigError, match="tank"):
        vehicle_sensing("tank")


def test_the_cards_other_fields_carry_over_to_the_car():
    base = SensingConfig(motion_lookahead=1.0, min_valid_fraction=0.7, motion_min_speed=0.3)
    car = vehicle_sensing("car", base)
    assert (car.motion_lookahead, car.min_valid_fraction, car.motion_min_speed) == (1.0, 0.7, 0.3)
    assert (car.range_max, car.lookahead) == (30.0, 8.0)
    assert vehicle_sensing("jackal", base) == base


def test_drive_env_sensing_overrides_apply_to_the_cars_config():
    env = DriveEnv(level=0, split="val", sensing={"motion_lookahead": 1.0})
    try:
        assert env.sensing == dataclasses.replace(DRIVE_SENSING, motion_lookahead=1.0)
    finally:
        env.close()


@pytest.mark.parametrize("vehicle", ["jackal", "car"])
def test_planner_sees_with_its_vehicles_training_sensing(vehicle):
    card = shipped_model()
    _, card_sensing = card_config(load_card(card)[0])
    planner = Planner(RuntimeConfig(model_path=card, vehicle=vehicle, deadline_ms=1000.0))
    if vehicle == "jackal":
        assert planner.sensing_config == card_sensing          # as the card says, unchanged
    else:
        trained = DriveEnv(level=0, split="val").sensing        # what Drive-v0 gave the model
        for name in GEOMETRY:
            assert getattr(planner.sensing_config, name) == getattr(trained, name), name
        assert (planner.sensing_config.range_max, planner.sensing_config.lookahead) == (30.0, 8.0)
        # The rest (what the model's input pipeline was trained with) is the card's.
        for name in ("motion_lookahead", "min_valid_fraction", "motion_min_speed"):
            assert getattr(planner.sensing_config, name) == getattr(card_sensing, name), name


@pytest.fixture
def node_factory():
    made = []

    def make(**params):
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=random.Random(os.getpid()).randrange(120, 230))
        node = PlannerNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        made.append((node, context))
        node.trigger_configure()
        node.trigger_activate()
        assert node.active
        return node

    yield make
    for node, context in made:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_node_builds_the_car_input_drive_env_built_for_the_same_scan(monkeypatch, node_factory):
    # The env's own scan, pose and global path, captured where it calls summarize.
    seen = []
    real = sim.nav_env.summarize

    def spy(scan, *args, **kwargs):
        out = real(scan, *args, **kwargs)
        seen.append((scan, out))
        return out

    monkeypatch.setattr(sim.nav_env, "summarize", spy)
    env = DriveEnv(level=2, split="val")
    try:
        _, info = env.reset(seed=3)
        scan, sim_summary = seen[-1]
        assert sim_summary is info["summary"]
        pose = sim_summary.pose
        path = env.world.planning().path_from(pose.x, pose.y, env.sensing.lookahead + 1.0)
        assert path is not None
    finally:
        env.close()
    assert np.isfinite(scan.ranges).any() and (scan.ranges[np.isfinite(scan.ranges)] > 8.0).any(), \
        "the scan should have returns beyond the jackal's 8 m range"

    node = node_factory(vehicle="car", deadline_ms=1000.0)
    built = []
    decide = node.planner.decide
    node.planner.decide = lambda s, **kw: (built.append(s), decide(s, **kw))[1]
    stamp = convert.sec_to_stamp(1.0)
    node.on_odom(convert.odom_msg(pose, sim_summary.twist, stamp, "odom", "base_link"))
    poses = np.column_stack([path, np.zeros(len(path))])
    node.on_global_plan(convert.path_msg(poses, stamp, "odom"))
    node.on_scan(convert.scan_msg(scan.ranges, scan.angle_min, scan.angle_increment, scan.range_min,
                                  scan.range_max, stamp, scan.frame_id))
    assert len(built) == 1, node.state
    ros_summary = built[0]
    assert ros_summary.vehicle == CAR
    assert ros_summary.sensing == env.sensing
    # Same input to the model: lidar (ranges went through float32 in the message) and state
    # (the goal is the global path's lookahead point, 8 m for the car).
    np.testing.assert_allclose(ros_summary.lidar, sim_summary.lidar, atol=1e-5)
    np.testing.assert_allclose(ros_summary.state, sim_summary.state, atol=1e-5)
    np.testing.assert_allclose(ros_summary.goal_robot, sim_summary.goal_robot, atol=1e-5)


def test_dwa_baseline_node_uses_the_cars_sensing(node_factory):
    node = node_factory(vehicle="car", backend="dwa")
    assert node.planner.sensing_config == DRIVE_SENSING
    node = node_factory(vehicle="jackal", backend="dwa")
    assert node.planner.sensing_config == SensingConfig()
