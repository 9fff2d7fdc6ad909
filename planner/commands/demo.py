"""`planner demo`: `planner launch use_sim:=true` on a built-in scenario, watched until the episode ends.

It starts sim_node and planner_node as separate processes talking over ROS 2 (Fast DDS, loopback,
a private domain id), listens to the simulator's outcome (sim/outcome) and the planner's /diagnostics,
and prints what really happened: the outcome reported by the simulator and the planner's own figures.
If the episode does not end within --timeout, it says so (outcome "no result") and exits 1.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from planner.errors import PlannerError
from planner.report import emit, format_table

HELP = "Run the main job: a robot driven by the planner in the simulator (through `planner launch`)."
DEFAULT_SCENARIO = "nav:0:2000000"   # level 0 (open space), the first test seed; harder: --scenario nav:2
log = logging.getLogger("planner.demo")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default=DEFAULT_SCENARIO,
                   help=f"nav[:level[:seed]], drive[:level[:seed]] or a map YAML (default {DEFAULT_SCENARIO})")
    p.add_argument("--model", default="", help="model card (.card.json) or its directory (default: the shipped model)")
    p.add_argument("--params-file", default="", help="ROS parameters YAML (default: config/planner.yaml)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    p.add_argument("--timeout", type=float, default=180.0, help="give up after this many wall seconds")
    p.add_argument("--domain-id", type=int, default=None,
                   help="ROS_DOMAIN_ID for the demo's nodes (default: $ROS_DOMAIN_ID, else a private one)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from planner.commands.launch import (Launcher, default_params_file, node_commands, parse_launch_args, ros_env,
                                         stop_signals)
    if args.speed <= 0 or args.speed > 50:
        raise PlannerError("--speed must be in (0, 50]")
    if args.timeout <= 0:
        raise PlannerError("--timeout must be positive (wall seconds)")
    domain = args.domain_id
    if domain is None:
        domain = int(os.environ["ROS_DOMAIN_ID"]) if os.environ.get("ROS_DOMAIN_ID") else 100 + os.getpid() % 100
    if not 0 <= domain <= 232:
        raise PlannerError("--domain-id must be in [0, 232]")
    launch_args = ["use_sim:=true", f"scenario:={args.scenario}", f"model:={args.model}"]
    if args.params_file:
        launch_args.append(f"params_file:={args.params_file}")
    commands = node_commands(parse_launch_args(launch_args))   # validates the params file
    check_scenario(args.scenario, Path(args.params_file) if args.params_file else default_params_file())
    commands["sim_node"] += ["-p", f"speed:={float(args.speed)}", "-p", "publish_goal:=true", "-p", "episodes:=1"]
    env = ros_env(domain)
    log.info("demo: scenario %s, ROS_DOMAIN_ID=%d; starting sim_node and planner_node", args.scenario, domain)

    watcher = Watcher(domain)
    launcher = Launcher(commands, env=env)
    t0 = time.monotonic()
    with stop_signals():
        try:
            launcher.start()
            launcher.run(until=lambda: (watcher.spin_once() or bool(watcher.planner_error) or bool(launcher.failed)
                                       or time.monotonic() - t0 > args.timeout), poll_s=0.0)
            if watcher.outcome is not None:   # the planner's figures up to the end of the episode
                n = watcher.diagnostics_seen
                end = time.monotonic() + 3.0
                while watcher.diagnostics_seen == n and time.monotonic() < end:
                    watcher.spin_once()
        finally:
            launcher.stop()
            watcher.close()
    wall = time.monotonic() - t0
    if watcher.outcome is None and watcher.planner_error:
        raise PlannerError(f"planner_node: {watcher.planner_error}")
    if watcher.outcome is None and launcher.failed:   # e.g. sim_node refused the scenario (its error is above)
        raise PlannerError("; ".join(f"{name} exited with a configuration error (exit {code}), see above"
                                     for name, code in launcher.failed.items()))
    result = {
        "scenario": args.scenario,
        "outcome": watcher.outcome.get("outcome") if watcher.outcome else "no result",
        "episode": watcher.outcome,
        "planner": watcher.planner,
        "goal_status": watcher.goal_status,
        "wall_s": wall,
        "timed_out": watcher.outcome is None,
        "ros_domain_id": domain,
    }
    rows = [["outcome", result["outcome"]], ["scenario", args.scenario], ["wall time (s)", round(wall, 1)]]
    for key in ("time", "path_length", "min_clearance", "spl", "barn_score"):
        if watcher.outcome and key in watcher.outcome:
            rows.append([f"episode {key}", watcher.outcome[key]])
    for key in ("model", "decisions", "latency_p50_ms_total", "latency_p99_ms_total", "latency_max_ms_total",
                "deadline_misses", "fallbacks", "corrected", "safety_guard_stops", "input_problems"):
        if key in watcher.planner:
            rows.append([f"planner {key}", watcher.planner[key]])
    emit(result, format_table(rows, ["", "value"]), args.json)
    if watcher.outcome is None:
        log.error("no outcome within %.0f s", args.timeout)
        return 1
    return 0


def check_scenario(scenario: str, params_file: Path) -> None:
    """Refuse a bad scenario before starting any node (one clear line, not two nodes' start-up noise):
    the world is built once here exactly as sim_node will build it, with sim_node's parameters from
    the params file (a map's map_start / map_goal included: a start inside an obstacle fails here)."""
    import yaml

    from planner.config import from_dict
    from planner.errors import MapError
    from ros_nodes.sim_node import SimNodeConfig, make_env
    data = yaml.safe_load(params_file.read_text()) or {}
    params = dict((data.get("sim_node") or {}).get("ros__parameters") or {})
    params.pop("use_sim_time", None)
    cfg = from_dict(SimNodeConfig, {**params, "scenario": scenario})
    try:
        env, _ = make_env(cfg)
    except MapError as exc:
        if not Path(scenario).is_file():
            raise
        raise MapError(f"{exc} (map_start {list(cfg.map_start)} / map_goal {list(cfg.map_goal)} are sim_node "
                       f"parameters in {params_file})") from None
    env.close()


class Watcher:
    """An in-process rclpy node on its own context: sim/outcome, /diagnostics, planner goal status."""

    def __init__(self, domain: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSDurabilityPolicy, QoSProfile
        from std_msgs.msg import String

        from ros_nodes.planner_node import DIAGNOSTIC_NAME
        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("planner_demo", context=self.context)
        latched = QoSProfile(depth=10, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        self.outcome: dict | None = None
        self.planner: dict = {}
        self.planner_error = ""
        self.diagnostics_seen = 0
        self.goal_status: dict | None = None
        self._diag_name = DIAGNOSTIC_NAME
        self.node.create_subscription(String, "sim/outcome", self._on_outcome, latched)
        self.node.create_subscription(String, "planner_node/goal_status", self._on_goal_status,
                                      QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_once(self) -> bool:
        """Handle what arrived (waiting up to 0.1 s); True once the episode ended."""
        self.executor.spin_once(timeout_sec=0.1)
        return self.outcome is not None

    def _on_outcome(self, msg) -> None:
        self.outcome = json.loads(msg.data)
        log.info("episode ended: %s", self.outcome.get("outcome"))

    def _on_goal_status(self, msg) -> None:
        self.goal_status = json.loads(msg.data)

    def _on_diagnostics(self, msg) -> None:
        from ros_nodes.convert import diagnostic_values
        found = diagnostic_values(msg, self._diag_name)
        if found is None:
            return
        level, message, values = found
        self.diagnostics_seen += 1
        self.planner = {"level": level, "message": message, **{k: _number(v) for k, v in values.items()}}
        if level == "ERROR" and values.get("state") == "unconfigured":
            self.planner_error = message

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
