"""sim_node in-process (own rclpy context): map scenarios, LaserScan geometry, following cmd_vel,
braking on command timeout, outcome reports."""
import json
import os
import random
from pathlib import Path

import pytest
import rclpy
from rclpy.parameter import Parameter

from planner.errors import PlannerError
from ros_nodes import convert
from ros_nodes.sim_node import SimNode, parse_scenario

MAP = Path(__file__).parent / "data" / "small_map.yaml"


@pytest.fixture()
def make_sim():
    made = []

    def make(**params):
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=random.Random(os.getpid() + 1).randrange(120, 230))
        made.append(context)
        node = SimNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        published = {"scan": [], "odom": [], "outcome": []}
        for name, pub in (("scan", node.scan_pub), ("odom", node.odom_pub), ("outcome", node.outcome_pub)):
            original = pub.publish
            pub.publish = lambda m, name=name, original=original: (published[name].append(m), original(m))
        made.append(node)
        return node, published

    yield make
    for obj in reversed(made):
        if isinstance(obj, SimNode):
            obj.destroy_node()
        else:
            rclpy.shutdown(context=obj)


def test_map_scenario_publishes_the_real_lidar_geometry_and_follows_cmd_vel(make_sim):
    node, pub = make_sim(scenario=str(MAP), map_start=[1.0, 1.0, 0.0], map_goal=[6.5, 4.5],
                         wait_for_planner=False, cmd_timeout_s=0.3)
    node.publish_state()
    scan = pub["scan"][-1]
    lidar = node.env.lidar_cfg
    assert len(scan.ranges) == lidar.beams == 271
    assert scan.angle_min == pytest.approx(-lidar.fov / 2) and scan.angle_increment == pytest.approx(lidar.angle_increment)
    assert scan.range_max == pytest.approx(lidar.range_max) and scan.header.frame_id == "base_link"
    assert convert.odom_from_msg(pub["odom"][-1])[0].x == pytest.approx(1.0)
    for _ in range(10):              # a planner answering every scan
        node.on_cmd(convert.twist_msg(0.5, 0.0))
        node.on_tick()
    pose, twist = convert.odom_from_msg(pub["odom"][-1])
    assert pose.x > 1.1 and twist.v > 0.3
    assert pub["scan"][-1].header.stamp == pub["odom"][-1].header.stamp
    for _ in range(20):              # no command for longer than cmd_timeout_s: the base brakes
        node.on_tick()
    assert convert.odom_from_msg(pub["odom"][-1])[1].v == 0.0


def test_episode_end_is_reported_once_and_the_world_keeps_running(make_sim):
    node, pub = make_sim(scenario="nav:0:2000000", wait_for_planner=False)
    node.env._limit = node.env.steps + 3     # a short time limit: the episode times out
    for _ in range(5):
        node.on_tick()
    assert len(pub["outcome"]) == 1
    doc = json.loads(pub["outcome"][0].data)
    assert doc["outcome"] == "timeout" and doc["episode"] == 1 and doc["seed"] == 2000000
    assert node.finished
    x = node.env.x
    for _ in range(3):
        node.on_cmd(convert.twist_msg(1.0, 0.0))
        node.on_tick()
    assert node.env.x != x and len(pub["outcome"]) == 1


def test_waits_for_a_planner_before_the_episode_clock_runs(make_sim):
    node, pub = make_sim(scenario="nav:0:2000000")
    for _ in range(3):
        node.on_tick()
    assert node.sim_time == 0.0 and node.env.steps == 0 and len(pub["scan"]) >= 3


@pytest.mark.parametrize("text", ["moon", "nav:x", "nav:1:2:3", "drive:one"])
def test_bad_scenarios_are_rejected(text):
    with pytest.raises(PlannerError):
        parse_scenario(text)
    assert parse_scenario("drive:2:7") == {"kind": "drive", "level": 2, "seed": 7, "map": None}
    assert parse_scenario("my_map.yaml")["kind"] == "map"
