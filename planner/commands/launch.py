"""`planner launch`: pip users' `ros2 launch planner planner.launch.py`.

Starts the same nodes as launch/planner.launch.py, with the same arguments and the same parameter
file, as child processes: planner_node always, sim_node with use_sim:=true. Crashed nodes are respawned
after RESPAWN_DELAY_S; Ctrl-C / SIGTERM stops them (SIGINT, then SIGTERM, then SIGKILL) and exits.
tests/test_launch_file.py checks that ARGUMENTS matches the launch file's declared arguments.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator


from planner.errors import ConfigError

HELP = "Start the planner node (and with use_sim:=true the simulator node): pip users' `ros2 launch`."

# name -> (default, description); the same as DeclareLaunchArgument in launch/planner.launch.py.
ARGUMENTS = {
    "use_sim": ("false", "true: also start sim_node (the PyBullet simulator) and run planner_node on its /clock"),
    "scenario": ("nav:0", "sim_node world: nav[:level[:seed]], drive[:level[:seed]] or a map_server YAML file"),
    "model": ("", "model card (.card.json) or its directory for planner_node; empty = model_path from params_file"),
    "params_file": ("", "ROS parameters YAML for planner_node and sim_node (default: config/planner.yaml)"),
}
RESPAWN_DELAY_S = 2.0
CONFIG_ERROR_EXIT = 2     # a node that exits with this reported a configuration error: not respawned
STOP_GRACE_S = 5.0
log = logging.getLogger("planner.launch")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("launch_args", nargs="*", metavar="NAME:=VALUE",
                   help="launch arguments: " + "; ".join(f"{k} (default {v[0] or 'empty'}): {v[1]}"
                                                       for k, v in ARGUMENTS.items()))
    p.add_argument("--no-respawn", action="store_true", help="do not restart nodes that exit")


def parse_launch_args(items: list[str]) -> dict[str, str]:
    values = {k: v[0] for k, v in ARGUMENTS.items()}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep:
            raise ConfigError(f"launch arguments look like name:=value, got {item!r}")
        if name not in ARGUMENTS:
            raise ConfigError(f"unknown launch argument {name!r}; known: {', '.join(ARGUMENTS)}")
        values[name] = value
    if values["use_sim"].lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"use_sim must be true or false, got {values['use_sim']!r}")
    return values


def default_params_file() -> Path:
    """config/planner.yaml: installed under <prefix>/share/planner (pip, colcon) or in the source tree."""
    for candidate in (Path(sys.prefix) / "share" / "planner" / "config" / "planner.yaml",
                      Path(__file__).resolve().parents[2] / "config" / "planner.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("config/planner.yaml not found (is the package installed?)")


def check_params_file(path: Path) -> None:
    """Validate the parameter file the same way the nodes do, so mistakes fail here in one line."""
    from ros_nodes.planner_node import NodeConfig
    from ros_nodes.sim_node import SimNodeConfig
    from planner.config import from_dict, read_yaml
    data = read_yaml(path, "params_file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a ROS parameters file (node_name: ros__parameters: ...), "
                          f"got a {type(data).__name__}")
    for node, cls in (("planner_node", NodeConfig), ("sim_node", SimNodeConfig)):
        section = data.get(node)
        params = {} if section is None else (section.get("ros__parameters") if isinstance(section, dict) else None)
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: {node} must hold a 'ros__parameters' mapping")
        params = dict(params)
        params.pop("use_sim_time", None)
        try:
            from_dict(cls, params)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {node}: {exc}") from None


def node_commands(values: dict[str, str]) -> dict[str, list[str]]:
    """The command line of each node: the same parameters as the launch file gives them."""
    params_file = Path(values["params_file"]) if values["params_file"] else default_params_file()
    check_params_file(params_file)
    use_sim = values["use_sim"].lower() in ("true", "1", "yes")
    planner = [sys.executable, "-m", "ros_nodes.planner_node", "--ros-args", "-r", "__node:=planner_node",
               "--params-file", str(params_file), "-p", f"use_sim_time:={'true' if use_sim else 'false'}"]
    if values["model"]:
        planner += ["-p", f"model_path:={values['model']}"]
    if use_sim and values["scenario"].startswith("drive"):
        planner += ["-p", "vehicle:=car"]   # Drive scenarios simulate the car
    commands = {"planner_node": planner}
    if use_sim:
        commands["sim_node"] = [sys.executable, "-m", "ros_nodes.sim_node", "--ros-args",
                                "-r", "__node:=sim_node", "--params-file", str(params_file),
                                "-p", f"scenario:={values['scenario']}"]
    return commands


def _die_with_parent() -> None:
    """Children get SIGTERM if this process dies without cleaning up (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Launcher:
    """Starts, watches, respawns and stops the node processes."""

    def __init__(self, commands: dict[str, list[str]], respawn: bool = True, env: dict | None = None,
                 stdout=None, stderr=None):
        self.commands, self.respawn = commands, respawn
        self.env = dict(os.environ if env is None else env)
        self.stdout, self.stderr = stdout, stderr
        self.procs: dict[str, subprocess.Popen] = {}
        self.respawns: dict[str, int] = {name: 0 for name in commands}
        self._due: dict[str, float] = {}
        self.failed: dict[str, int] = {}
        self.stopping = False

    def start(self) -> None:
        for name in self.commands:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.commands[name], env=self.env, stdout=self.stdout,
                                            stderr=self.stderr, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        log.info("started %s (pid %d)", name, self.procs[name].pid)

    def poll(self) -> None:
        """Respawn nodes that exited (after RESPAWN_DELAY_S), like launch_ros' respawn=True."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            if self.stopping:
                return
            if name in self.failed:
                continue
            if name in self._due:
                if now >= self._due[name]:
                    del self._due[name]
                    self.respawns[name] += 1
                    self._spawn(name)
                continue
            code = proc.poll()
            if code is None:
                continue
            if not self.respawn or code == CONFIG_ERROR_EXIT:
                # exit code 2 = a configuration error reported by the node: restarting cannot fix it
                log.error("%s exited with code %s%s", name, code, "" if self.respawn else " (not respawned)")
                self.failed[name] = code
                continue
            log.warning("%s exited with code %s: respawning in %.0f s", name, code, RESPAWN_DELAY_S)
            self._due[name] = now + RESPAWN_DELAY_S

    def run(self, until: Callable[[], bool] = lambda: False, poll_s: float = 0.1) -> None:
        while not until():
            self.poll()
            if all(p.poll() is not None for p in self.procs.values()) and \
                    (not self.respawn or len(self.failed) == len(self.procs)):
                return
            time.sleep(poll_s)

    def stop(self) -> dict[str, int | None]:
        """SIGINT (rclpy shuts down cleanly and zeroes the command), then SIGTERM, then SIGKILL."""
        self.stopping = True
        for sig, grace in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            alive = [p for p in self.procs.values() if p.poll() is None]
            if not alive:
                break
            for p in alive:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(p.poll() is None for p in alive):
                time.sleep(0.05)
        return {name: p.returncode for name, p in self.procs.items()}


def ros_env(domain_id: int | None = None) -> dict[str, str]:
    """The environment for the nodes: loopback-only discovery unless the user chose otherwise."""
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    return env


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise KeyboardInterrupt, so its cleanup stops the nodes.

    SIGINT too: a shell that starts us in the background (`planner launch &`, a script, make) leaves
    SIGINT ignored, and then Ctrl-C / kill -INT would not stop anything.
    """
    previous = {sig: signal.signal(sig, _raise_keyboard_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    values = parse_launch_args(args.launch_args)
    commands = node_commands(values)
    launcher = Launcher(commands, respawn=not args.no_respawn, env=ros_env())
    log.info("launching %s (ROS_DOMAIN_ID=%s); Ctrl-C to stop", ", ".join(commands),
             launcher.env.get("ROS_DOMAIN_ID", "0"))
    with stop_signals():
        try:
            launcher.start()
            launcher.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            codes = launcher.stop()
    log.info("stopped: %s", ", ".join(f"{k} exit {v}" for k, v in codes.items()))
    if launcher.failed:
        raise ConfigError("; ".join(f"{name} exited with a configuration error (exit {code}), see above"
                                    for name, code in launcher.failed.items()))
    return 0
