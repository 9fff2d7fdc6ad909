"""Real nodes in separate processes over Fast DDS on loopback, each test on its own ROS_DOMAIN_ID.

- a goal sent on /goal_pose is reached in the simulator through ROS (planner_node drives the robot
  from LaserScan + Odometry it receives over DDS; its commands carry the stamps of the scans);
- parameters load from a YAML params file (read back through the node's parameter services);
- `planner launch`: a killed sim_node makes the planner stop (zero command + ERROR diagnostic) and
  it recovers when the respawned simulator comes back; Ctrl-C stops everything cleanly.

The planner here uses `backend: dwa` (the lidar-only classical baseline behind the same node): what is
under test is the ROS wiring (QoS, frames, sign conventions, timing, lifecycle), which a planner that
cannot reach the goal would not prove. The shipped MiniReasoner is driven through the same path by
`planner demo` (see test_demo_with_the_shipped_model, slow).
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

from planner.sensing import Pose2D
from ros_nodes import convert
from ros_nodes.planner_node import DIAGNOSTIC_NAME

ROOT = Path(__file__).resolve().parents[1]
SEED = 2_000_000   # first test seed; level 0 = open space


def domain_id():
    return random.Random(os.getpid() * 7919 + time.monotonic_ns()).randrange(150, 230)


def ros_env(domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


def write_params(path, planner=None, sim=None):
    base = yaml.safe_load((ROOT / "config" / "planner.yaml").read_text())
    base["planner_node"]["ros__parameters"].update(planner or {})
    base["sim_node"]["ros__parameters"].update(sim or {})
    path.write_text(yaml.safe_dump(base))
    return path


class Observer:
    """The test's own node: watches cmd_vel, scan, diagnostics and the simulator's outcome."""

    def __init__(self, domain):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("test_observer", context=self.context)
        self.commands, self.scan_stamps, self.diagnostics, self.outcomes = [], set(), [], []
        self.node.create_subscription(TwistStamped, "cmd_vel", self._on_cmd, 100)
        self.node.create_subscription(LaserScan, "scan", self._on_scan, qos_profile_sensor_data)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.node.create_subscription(String, "sim/outcome", lambda m: self.outcomes.append(json.loads(m.data)),
                                      QoSProfile(depth=10, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL))
        self.goal_pub = self.node.create_publisher(convert.PoseStamped, "goal_pose", 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_cmd(self, msg):
        self.commands.append((time.monotonic(), convert.stamp_to_sec(msg.header.stamp), msg.twist.linear.x,
                              msg.twist.angular.z))

    def _on_scan(self, msg):
        self.scan_stamps.add(convert.stamp_to_sec(msg.header.stamp))

    def _on_diag(self, msg):
        found = convert.diagnostic_values(msg, DIAGNOSTIC_NAME)
        if found:
            self.diagnostics.append((time.monotonic(), *found))

    def spin_until(self, condition, timeout, also=lambda: None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
            also()
            if condition():
                return True
        return False

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_goal_on_goal_pose_is_reached_in_the_simulator_through_ros(tmp_path):
    from sim.worlds import generate
    domain = domain_id()
    params = write_params(tmp_path / "params.yaml",
                          planner={"backend": "dwa", "cmd_vel_stamped": True, "goal_tolerance": 0.25},
                          sim={"cmd_vel_stamped": True, "lockstep": True, "speed": 4.0, "publish_goal": False,
                               "episodes": 1, "goal_tolerance": 0.3})
    env = ros_env(domain)
    launch = subprocess.Popen([sys.executable, "-m", "planner.cli", "launch", "use_sim:=true",
                               f"scenario:=nav:0:{SEED}", f"params_file:={params}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    obs = Observer(domain)
    try:
        # parameters came from the YAML file: read them back over the parameter services
        client = AsyncParameterClient(obs.node, "planner_node")
        assert obs.spin_until(client.services_are_ready, 30), "planner_node did not come up"
        future = client.get_parameters(["backend", "cmd_vel_stamped", "goal_tolerance", "scan_timeout_s"])
        assert obs.spin_until(future.done, 10)
        values = [p.string_value or p.bool_value or p.double_value for p in future.result().values]
        assert values == ["dwa", True, 0.25, 0.5]

        # the goal, in the odom frame, sent once the planner listens (a volatile subscriber misses earlier ones)
        goal = generate(0, SEED).goal
        assert obs.spin_until(lambda: obs.goal_pub.get_subscription_count() > 0 and obs.scan_stamps, 30)
        obs.goal_pub.publish(convert.goal_msg(Pose2D(goal.x, goal.y), convert.sec_to_stamp(0.0), "odom"))
        assert obs.spin_until(lambda: obs.outcomes, 60), "no episode outcome within 60 s"
        assert obs.outcomes[0]["outcome"] == "reached", obs.outcomes[0]
        assert obs.outcomes[0]["min_clearance"] > 0
        moving = [c for c in obs.commands if c[2] > 0.1]
        assert len(moving) > 20
        # every decision answers a scan: its stamp is that scan's stamp (the latency probe's contract);
        # only the watchdog's zero commands (stale input, e.g. before the first scan) carry "now"
        seen_from = min(obs.scan_stamps)
        assert {c[1] for c in moving if c[1] >= seen_from} <= obs.scan_stamps
        # the planner reports the goal as reached and stops
        assert obs.spin_until(lambda: any(d[3].get("goal_reached") == "True" for d in obs.diagnostics), 5)
        assert obs.commands[-1][2:] == (0.0, 0.0)
    finally:
        obs.close()
        stop(launch)
    assert launch.returncode == 0, launch.stderr.read()[-2000:]


def test_killed_sim_node_stops_the_planner_which_recovers_when_it_is_respawned(tmp_path):
    domain = domain_id()
    params = write_params(tmp_path / "params.yaml",
                          planner={"backend": "dwa", "cmd_vel_stamped": True, "scan_timeout_s": 0.4,
                                   "odom_timeout_s": 0.4, "control_period_s": 0.05,
                                   "diagnostics_period_s": 0.25},
                          sim={"cmd_vel_stamped": True, "speed": 1.0, "publish_goal": True, "episodes": 0})
    launch = subprocess.Popen([sys.executable, "-m", "planner.cli", "launch", "use_sim:=true",
                               f"scenario:=nav:0:{SEED + 1}", f"params_file:={params}"], env=ros_env(domain),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    obs = Observer(domain)
    try:
        assert obs.spin_until(lambda: any(c[2] > 0.1 for c in obs.commands), 40), "the robot never moved"
        children = {" ".join(p.cmdline()): p for p in psutil.Process(launch.pid).children()}
        sim = next(p for cmd, p in children.items() if "ros_nodes.sim_node" in cmd)
        sim.kill()
        killed_at = time.monotonic()
        # zero command within scan timeout + two control periods (+ slack for a loaded 2-core machine)
        assert obs.spin_until(lambda: any(c[0] > killed_at and c[2:] == (0.0, 0.0) for c in obs.commands), 5)
        first_zero = min(c[0] for c in obs.commands if c[0] > killed_at and c[2:] == (0.0, 0.0))
        assert first_zero - killed_at <= 0.4 + 2 * 0.05 + 0.3
        assert obs.spin_until(lambda: any(d[0] > killed_at and d[1] == "ERROR" and "scan" in d[2]
                                          for d in obs.diagnostics), 5)
        assert not any(c[0] > first_zero and c[2] != 0.0 for c in obs.commands)
        # planner launch respawns sim_node; the planner resumes without being restarted itself
        recovered = obs.spin_until(lambda: any(c[0] > killed_at + 1.0 and c[2] > 0.1 for c in obs.commands), 40)
        assert recovered, "the planner did not resume after sim_node came back"
        assert obs.spin_until(lambda: obs.diagnostics[-1][1] != "ERROR", 5)
        planner = next(p for p in psutil.Process(launch.pid).children() if "ros_nodes.planner_node" in " ".join(p.cmdline()))
        assert planner.pid in [p.pid for cmd, p in children.items() if "planner_node" in cmd]
    finally:
        obs.close()
        kids = psutil.Process(launch.pid).children() if launch.poll() is None else []
        launch.send_signal(signal.SIGINT)   # Ctrl-C: planner launch stops its nodes and exits 0
        try:
            launch.wait(15)
        except subprocess.TimeoutExpired:
            launch.kill()
            for k in kids:
                k.kill()
            raise
    err = launch.stderr.read()
    assert launch.returncode == 0, err[-2000:]
    assert "respawning" in err
    assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids)


@pytest.mark.slow
def test_demo_with_the_shipped_model(tmp_path):
    """`planner demo --json` with the shipped model: the goal is reached through ROS (needs the model)."""
    card = ROOT / "models" / "weights" / "mini.card.json"
    if not card.is_file():
        pytest.skip("no shipped model yet (models/weights/mini.card.json)")
    out = subprocess.run([sys.executable, "-m", "planner.cli", "demo", "--json", "--speed", "2",
                          "--domain-id", str(domain_id())], capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    # level 0 (open space): the shipped MiniReasoner reaches the goal the simulator sent on goal_pose
    assert doc["outcome"] == "reached", doc["episode"]
    assert doc["planner"]["goal_reached"] == "True" or doc["planner"]["goal_reached"] is True
    assert doc["goal_status"]["state"] == "reached" and doc["planner"]["backend"] == "onnx-int8"
    assert doc["planner"]["decisions"] > 0 and doc["episode"]["episode"] == 1


def test_demo_prints_the_simulators_outcome_as_one_json_document(tmp_path):
    """`planner demo --json` end to end (an untrained model: the outcome is whatever really happened)."""
    from planner.export import export_untrained
    card = export_untrained(tmp_path / "model")
    out = subprocess.run([sys.executable, "-m", "planner.cli", "demo", "--json", "--scenario", f"nav:0:{SEED}",
                          "--model", str(card), "--speed", "8", "--timeout", "90", "--domain-id", str(domain_id())],
                         capture_output=True, text=True, timeout=150, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["outcome"] in ("reached", "collided", "timeout") and doc["timed_out"] is False
    assert doc["episode"]["outcome"] == doc["outcome"] and doc["episode"]["seed"] == SEED
    assert doc["planner"]["model"] == str(card) and doc["planner"]["backend"] == "onnx-int8"
    assert doc["planner"]["decisions"] > 10 and doc["planner"]["latency_p50_ms_total"] > 0
    assert doc["goal_status"]["state"] in ("active", "reached")


def test_demo_with_a_missing_model_fails_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "planner.cli", "demo", "--model", str(tmp_path / "none.card.json"),
                          "--timeout", "60", "--domain-id", str(domain_id())],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1].startswith("planner demo: error: planner_node: model failed to load")


@pytest.mark.parametrize("scenario", ["nav:9", "moon:1", "missing_map.yaml",
                                      "tests/data/small_map.yaml"])   # default map_start (0, 0) is in the wall
def test_demo_with_a_bad_scenario_fails_in_one_line_before_starting_nodes(scenario):
    # used to wait for --timeout with sim_node dead (and the planner's start-up traceback on stop)
    out = subprocess.run([sys.executable, "-m", "planner.cli", "demo", "--scenario", scenario, "--timeout", "60"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr and "started planner_node" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("planner demo: error: ")


def test_bad_sim_scenario_and_bad_params_file_fail_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ros_nodes.sim_node", "--ros-args", "-p", "scenario:=moon:1"],
                         capture_output=True, text=True, timeout=60, env=ros_env(domain_id()))
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("sim_node: error: scenario must be")
    params = write_params(tmp_path / "bad.yaml", planner={"deadline_ms": -5.0})
    out = subprocess.run([sys.executable, "-m", "planner.cli", "launch", f"params_file:={params}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "deadline_ms must be in (0, 1000]" in out.stderr.strip().splitlines()[-1]
    out = subprocess.run([sys.executable, "-m", "planner.cli", "launch", "use_sim:=maybe"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "use_sim must be true or false" in out.stderr


def test_planner_launch_started_with_sigint_ignored_still_stops_on_sigint():
    # A shell starting `planner launch &` (or make in the background) hands it SIGINT ignored; Ctrl-C /
    # kill -INT must still stop the nodes and exit 0 (session 15: it hung until killed).
    domain = domain_id()
    launch = subprocess.Popen([sys.executable, "-m", "planner.cli", "launch"], env=ros_env(domain),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    obs = Observer(domain)
    try:
        client = AsyncParameterClient(obs.node, "planner_node")
        assert obs.spin_until(client.services_are_ready, 30), "planner_node did not come up"
        nodes = psutil.Process(launch.pid).children()
        assert nodes
    finally:
        obs.close()
    stop(launch)   # SIGINT, then SIGKILL after 10 s
    assert launch.returncode == 0, launch.stderr.read()[-2000:]
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in nodes)
