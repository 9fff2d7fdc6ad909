"""`planner hil`: hardware-in-the-loop latency test.

By default it starts the planner node and a bare echo node (the middleware floor) as separate processes
on an isolated ROS_DOMAIN_ID (localhost discovery only), publishes realistic scans + odometry at a fixed
rate from this process, and reports the round trip scan -> cmd_vel of both, side by side. With --attach
it starts nothing and measures a planner that is already running (e.g. on the robot). See docs/HIL.md.
"""
from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from planner.commands.launch import stop_signals
from planner.errors import ConfigError, PlannerError

HELP = "Hardware-in-the-loop latency test: scans in, stamped commands out, against a real planner node."

FLOOR_NS = "/hil_floor"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, default=50.0, help="scan + odometry rate in Hz (default 50, up to 200+)")
    p.add_argument("--count", type=int, default=1000, help="measured planner scans (default 1000)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
    p.add_argument("--deadline-ms", type=float, default=10.0, help="deadline per command (default 10 ms)")
    p.add_argument("--floor-count", type=int, default=-1,
                   help="measured scans to the echo floor (default: as many as --count; 0: no floor)")
    p.add_argument("--warmup", type=int, default=25, help="unmeasured scans per target first (default 25)")
    p.add_argument("--source", default="sim", help="'sim' (simulator episodes) or 'mcap:PATH' (rosbag2 MCAP)")
    p.add_argument("--topics", default="", help="planner topics, e.g. scan=/front/scan,cmd_vel=/cmd_vel "
                   "(keys scan, odom, goal, cmd_vel; defaults /scan /odom /goal_pose /cmd_vel)")
    p.add_argument("--stress", type=int, default=0, metavar="N", help="N busy processes competing for the CPU")
    p.add_argument("--burst", default="", metavar="SIZE@SECONDS",
                   help="every SECONDS, SIZE extra scans back to back (e.g. 10@5); reported separately")
    p.add_argument("--soak", type=float, default=0.0, metavar="MINUTES",
                   help="soak: run this long (overrides --count) and report memory growth")
    p.add_argument("--attach", action="store_true",
                   help=f"start no nodes: measure a running planner (and an echo_node in {FLOOR_NS}, "
                        "unless --floor-count 0) on the current ROS_DOMAIN_ID")
    p.add_argument("--planner-pid", type=int, default=0, help="planner process for CPU/memory (with --attach)")
    p.add_argument("--planner-process", default="", help="... or a name in its command line")
    p.add_argument("--planner-command", default="",
                   help="command that starts the planner (default: this package's planner_node)")
    p.add_argument("--model", default="", help="model card or directory for the started planner node "
                   "(default: the node's shipped model)")
    p.add_argument("--planner-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="ROS parameter for the started planner node (repeatable)")
    p.add_argument("--rt-priority", type=int, default=0, metavar="P",
                   help="run the probe and the started nodes SCHED_FIFO at priority P (1-99), as a robot's "
                        "control loop runs (stress processes stay normal); 0: leave as is")
    p.add_argument("--domain-id", type=int, default=-1,
                   help="ROS_DOMAIN_ID (default: a random isolated one when starting nodes)")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the nodes")
    p.add_argument("--out", default="", help="output folder (default runs/hil/<time>)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is not met")


def run(args: argparse.Namespace) -> int:
    from planner.hil import HilConfig, Topics, parse_burst, parse_topics
    from planner.report import emit

    burst_size, burst_every = parse_burst(args.burst) if args.burst else (0, 5.0)
    count = round(args.soak * 60 * args.rate) if args.soak > 0 else args.count
    cfg = HilConfig(rate_hz=args.rate, count=count, floor_count=args.floor_count, deadline_ms=args.deadline_ms,
                    warmup=args.warmup, burst_size=burst_size, burst_every_s=burst_every, soak=args.soak > 0)
    cfg.validate()
    if args.stress < 0:
        raise ConfigError("--stress must be >= 0")
    topics = parse_topics(args.topics) if args.topics else Topics()
    targets = {"planner": topics}
    if cfg.floor_scans:
        targets["floor"] = Topics().in_namespace(FLOOR_NS)
    out_dir = Path(args.out or f"runs/hil/{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    out_dir.mkdir(parents=True, exist_ok=True)

    if args.domain_id >= 0:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    elif not args.attach:
        os.environ["ROS_DOMAIN_ID"] = str(random.randint(1, 101))
    if not args.attach:
        # Our own nodes talk on localhost only: no cross-talk with other users of this network.
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if args.rt_priority:
        if not 1 <= args.rt_priority <= 99:
            raise ConfigError("--rt-priority must be in [1, 99]")
        try:  # the started nodes inherit it
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rt_priority))
        except OSError as exc:
            raise ConfigError(f"--rt-priority: cannot switch to SCHED_FIFO ({exc}); needs CAP_SYS_NICE") from exc
    session = HilSession(cfg, targets, args, out_dir)
    with stop_signals():
        try:
            report = session.run()
        finally:
            session.close()
    from planner.hil import markdown, public
    emit(public(report), markdown(report) + f"\nFiles: {', '.join(report['outputs'].values())}\n", args.json)
    return 1 if args.check and not report["targets"]["all_met"] else 0


class HilSession:
    """Processes, probe and sampler of one run; close() always cleans up."""

    def __init__(self, cfg, targets, args: argparse.Namespace, out_dir: Path):
        self.cfg, self.targets, self.args, self.out_dir = cfg, targets, args, out_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.stress: list[subprocess.Popen] = []
        self.probe = None
        self.context = None

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        from planner.report import log
        self.logs[name] = self.out_dir / f"{name}.log"
        log.info("starting %s: %s", name, shlex.join(cmd))
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        with open(self.logs[name], "w") as f:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env)
        self.procs[name] = p
        return p

    def _alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = self.logs[name].read_text(errors="replace").strip().splitlines()[-5:]
                raise PlannerError(f"{name} exited with code {p.returncode}: " + " | ".join(tail))

    def run(self) -> dict:
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from planner.hil import find_process, load_frames, make_schedule, save_outputs, scheduling, start_stress
        from planner.report import Progress, log, machine_info
        cfg, args = self.cfg, self.args
        frames = load_frames(args.source, cfg, self.targets["planner"])
        log.info("%d scan frames from %s", len(frames), args.source)
        if not args.attach:
            planner_cmd = (shlex.split(args.planner_command) if args.planner_command
                           else [sys.executable, "-m", "ros_nodes.planner_node"])
            ros_args = ["--ros-args", "-p", "cmd_vel_stamped:=true"]
            if args.model:
                if not Path(args.model).exists():
                    raise ConfigError(f"--model: {args.model} does not exist")
                ros_args += ["-p", f"model_path:={Path(args.model).resolve()}"]
            for param in args.planner_param:
                if ":=" not in param:
                    raise ConfigError(f"--planner-param wants NAME:=VALUE, got {param!r}")
                ros_args += ["-p", param]
            t = self.targets["planner"]
            for name, topic in zip(("scan", "odom", "goal_pose", "cmd_vel"), (t.scan, t.odom, t.goal, t.cmd_vel)):
                if topic != "/" + name:   # the planner node's topic names are relative
                    ros_args += ["-r", f"{name}:={topic}"]
            self._start("planner", planner_cmd + ros_args)
            if "floor" in self.targets:
                self._start("floor", [sys.executable, "-m", "ros_nodes.echo_node", "--ros-args",
                                      "-r", f"__ns:={FLOOR_NS}"])
        self.context = rclpy.Context()
        # We own the signals (SIGINT / SIGTERM -> KeyboardInterrupt: stop_signals in run()), so close()
        # always stops the nodes.
        rclpy.init(args=[], context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        from ros_nodes.latency_probe import LatencyProbe, measure
        self.probe = LatencyProbe(self.targets, frames, cfg.rate_hz, context=self.context).start()
        t_start = time.monotonic()
        self.probe.wait_for_discovery(args.startup_timeout, self._alive)
        self.probe.wait_for_replies(cfg.rate_hz, max(10.0, args.startup_timeout - (time.monotonic() - t_start)),
                                    self._alive)
        log.info("nodes up after %.1f s (ROS_DOMAIN_ID=%s)", time.monotonic() - t_start,
                 os.environ.get("ROS_DOMAIN_ID", "0"))

        watched = {name: p.pid for name, p in self.procs.items()}
        if args.attach:
            proc = find_process(args.planner_pid or None, args.planner_process or None)
            if proc is not None:
                watched["planner"] = proc
            else:
                log.warning("no --planner-pid/--planner-process: planner CPU and memory not reported")
        watched["probe"] = os.getpid()
        conditions = {"loadavg_before": round(os.getloadavg()[0], 2), "stress_processes": args.stress,
                      "scheduling": scheduling(),
                      "source": args.source, "attach": bool(args.attach),
                      "ros_domain_id": int(os.environ.get("ROS_DOMAIN_ID", "0"))}
        if args.stress:
            self.stress = start_stress(args.stress)
        with Progress(len(make_schedule(cfg)), "hil") as progress:
            rec, samples, report = measure(self.probe, cfg, watched, progress.update)
        conditions["loadavg_after"] = round(os.getloadavg()[0], 2)
        report["conditions"] = conditions
        report["machine"] = machine_info()
        self._check_processes(report)
        save_outputs(self.out_dir, rec, report, samples)
        return report

    def _check_processes(self, report: dict) -> None:
        report["processes"] = {name: ("running" if p.poll() is None else f"exited {p.returncode}")
                               for name, p in self.procs.items()}

    def close(self) -> None:
        from planner.hil import stop_processes
        stop_processes(self.stress)
        if self.probe is not None:
            self.probe.stop()
            self.probe.destroy_node()
        if self.context is not None:
            import rclpy
            rclpy.try_shutdown(context=self.context)
        # SIGINT lets the nodes shut down like Ctrl-C would; stop_processes escalates if they do not.
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(2)
        stop_processes(self.procs.values())
