"""Latency probe: publishes LaserScan + Odometry at a fixed rate and times the stamped commands that come
back (TwistStamped whose header.stamp is the scan's). Used by `planner hil`, or on its own:

    latency_probe --ros-args -p rate_hz:=50.0 -p count:=3000 -p source:=mcap:/data/robot.mcap \\
        -p floor_namespace:=/hil_floor -p planner_process:=planner_node -p out_dir:=runs/hil/robot

Publishing runs on a precise loop in the caller's thread (sleep, then a short spin on the monotonic clock;
a 100 Hz rclpy timer jitters 1-2 ms here); replies are received by an EventsExecutor in a background
thread and only time-stamped there. Matching and statistics happen afterwards (planner.hil.analyze).
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Sequence

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

from planner.errors import PlannerError
from planner.hil import Frame, SessionRecord, Tick, Topics
from ros_nodes.convert import diagnostic_values, goal_msg, init_ros, odom_msg, scan_msg, sec_to_stamp
from ros_nodes.planner_node import DIAGNOSTIC_NAME

SPIN_NS = 300_000  # the last 0.3 ms before a publish is spent spinning on the clock, not sleeping


class LatencyProbe(Node):
    def __init__(self, targets: dict[str, Topics], frames: Sequence[Frame], rate_hz: float, **kwargs):
        super().__init__("latency_probe", **kwargs)
        self.targets = targets
        self.replies: dict[str, list[tuple[int, int]]] = {t: [] for t in targets}
        self._scan_pub, self._odom_pub, self._goal_pub = {}, {}, {}
        goal_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for name, topics in targets.items():
            # Sensor-data QoS for scans, as lidar drivers publish them (best effort, keep last 5).
            self._scan_pub[name] = self.create_publisher(LaserScan, topics.scan, qos_profile_sensor_data)
            self._odom_pub[name] = self.create_publisher(Odometry, topics.odom, 10)
            self._goal_pub[name] = self.create_publisher(PoseStamped, topics.goal, goal_qos)
            self.create_subscription(TwistStamped, topics.cmd_vel, self._on_cmd(name), 100)
        # planner_node's own timing of each scan (callback, Planner.decide), to split the round trip.
        self.planner_self: dict[str, str] | None = None
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        # Messages are built once; only their stamps change while publishing.
        zero = sec_to_stamp(0.0)
        self._frames = list(frames)
        self._rate_hz = rate_hz
        self._scan_msgs = [scan_msg(f.scan.ranges, f.scan.angle_min, f.scan.angle_increment, f.scan.range_min,
                                    f.scan.range_max, zero, f.scan.frame_id, scan_time=1.0 / rate_hz)
                           for f in self._frames]
        self._odom_msgs = [odom_msg(f.pose, f.twist, zero, "odom", f.scan.frame_id) for f in self._frames]
        self._last_goal: dict[str, object] = {}
        self._last_stamp = 0
        self._executor = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _on_cmd(self, target: str) -> Callable[[TwistStamped], None]:
        replies = self.replies[target]

        def on_cmd(msg: TwistStamped) -> None:
            # Time first; everything else happens after the run.
            now = time.perf_counter_ns()
            replies.append((msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, now))
        return on_cmd

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        found = diagnostic_values(msg, DIAGNOSTIC_NAME)
        if found is not None:
            self.planner_self = found[2]

    # --- receiving ---------------------------------------------------------------------------------

    def start(self) -> "LatencyProbe":
        from rclpy.experimental import EventsExecutor
        self._executor = EventsExecutor(context=self.context)
        self._executor.add_node(self)
        self._thread = threading.Thread(target=self._spin, name="probe-executor", daemon=True)
        self._thread.start()
        return self

    def _spin(self) -> None:
        # spin_once with a timeout: EventsExecutor.spin() busy-waits (~30% of a core while idle, measured).
        try:
            while not self._stopping.is_set() and self.context.ok():
                self._executor.spin_once(timeout_sec=0.2)
        except Exception:  # context shut down while spinning
            pass

    def stop(self) -> None:
        self._stopping.set()
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=2.0)
        if self._thread is not None:
            self._thread.join(timeout=3.0)

    # --- publishing --------------------------------------------------------------------------------

    def _publish(self, target: str, k: int) -> tuple[int, int]:
        """Odometry, the goal if it changed, then the scan, all stamped now. Returns (stamp ns, send ns)."""
        stamp_ns = max(time.time_ns(), self._last_stamp + 1)  # unique even within a burst
        self._last_stamp = stamp_ns
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        odom, scan = self._odom_msgs[k], self._scan_msgs[k]
        odom.header.stamp.sec = scan.header.stamp.sec = sec
        odom.header.stamp.nanosec = scan.header.stamp.nanosec = nanosec
        self._odom_pub[target].publish(odom)
        goal = self._frames[k].goal
        if self._last_goal.get(target) != goal:
            self._goal_pub[target].publish(goal_msg(goal, odom.header.stamp, "odom"))
            self._last_goal[target] = goal
        send_ns = time.perf_counter_ns()
        self._scan_pub[target].publish(scan)
        return stamp_ns, send_ns

    def wait_for_discovery(self, timeout_s: float, alive: Callable[[], None] = lambda: None,
                           goal_grace_s: float = 5.0) -> None:
        """Until every target subscribes to our scans and publishes cmd_vel (alive() raises if a started
        process died), then up to goal_grace_s more until the planner subscribes to our goal (a foreign
        planner may take its goal elsewhere; the echo floor takes none)."""
        deadline = time.monotonic() + timeout_s
        matched_at: float | None = None
        while True:
            missing = [f"{name}: {'no subscriber on ' + t.scan if not self._scan_pub[name].get_subscription_count() else 'no publisher on ' + t.cmd_vel}"
                       for name, t in self.targets.items()
                       if not self._scan_pub[name].get_subscription_count()
                       or not self.count_publishers(t.cmd_vel)]
            if not missing:
                matched_at = matched_at or time.monotonic()
                if (self._goal_pub["planner"].get_subscription_count()
                        or time.monotonic() - matched_at > goal_grace_s):
                    return
            alive()
            if time.monotonic() > deadline:
                raise PlannerError(f"discovery timed out after {timeout_s:.0f} s ({'; '.join(missing)}); "
                                   "check ROS_DOMAIN_ID, topics and that cmd_vel is TwistStamped")
            time.sleep(0.1)

    def _has_goal(self) -> bool:
        """Whether our planner_node reports holding a goal. A reply alone can be the stop it sends
        while it has none; measuring those would time the stop path, not the model."""
        return self.planner_self is not None and self.planner_self.get("goal", "none") != "none"

    def wait_for_replies(self, rate_hz: float, timeout_s: float, alive: Callable[[], None] = lambda: None,
                         foreign_grace_s: float = 3.0) -> None:
        """Publish at the rate, re-sending the goal, until every target has answered and the planner
        says on /diagnostics that it holds the goal (model loaded, goal received). A planner that
        publishes none of our diagnostics (another implementation) is taken as ready foreign_grace_s
        after its first reply. These scans are not measured."""
        deadline = time.monotonic() + timeout_s
        first_reply_at: float | None = None
        k = 0
        while True:
            waiting = [name for name in self.targets if not self.replies[name]]
            if not waiting:
                first_reply_at = first_reply_at or time.monotonic()
                foreign = self.planner_self is None and time.monotonic() - first_reply_at > foreign_grace_s
                if self._has_goal() or foreign:
                    break
            alive()
            if time.monotonic() > deadline:
                if waiting:
                    raise PlannerError(f"no stamped command came back from {', '.join(waiting)} within "
                                       f"{timeout_s:.0f} s (is the planner publishing TwistStamped with the "
                                       "scan's stamp? planner_node needs cmd_vel_stamped:=true)")
                raise PlannerError(f"the planner answers but reports no goal after {timeout_s:.0f} s of "
                                   f"re-sending it on {self.targets['planner'].goal} (goal frame and topic?)")
            if k % max(1, int(rate_hz / 2)) == 0:
                self._last_goal.clear()  # re-send the goal: a volatile subscriber may have joined late
            for name in self.targets:
                self._publish(name, k % len(self._frames))
            k += 1
            time.sleep(1.0 / rate_hz)
        time.sleep(0.2)
        for r in self.replies.values():
            r.clear()

    def run(self, ticks: Sequence[Tick], drain_s: float = 1.0,
            progress: Callable[[int], None] | None = None, progress_every: int = 50) -> SessionRecord:
        """Publish every tick at its scheduled time, then wait drain_s for late replies. A tick the probe
        could not send within one period of its time (the probe itself was starved of CPU) is skipped
        (send time -1) rather than sent late in a catch-up burst the planner never asked for."""
        n = len(ticks)
        when_ns = np.array([round(t.t * 1e9) for t in ticks], dtype=np.int64)
        send_ns = np.zeros(n, dtype=np.int64)
        stamps = np.zeros(n, dtype=np.int64)
        n_frames = len(self._frames)
        clock = time.perf_counter_ns
        skip_ns = int(1e9 / self._rate_hz)
        t0 = clock() + 50_000_000
        for i, tick in enumerate(ticks):
            target_ns = t0 + int(when_ns[i])
            ahead = target_ns - clock()
            if ahead > SPIN_NS:
                time.sleep((ahead - SPIN_NS) / 1e9)
            while clock() < target_ns:
                pass
            if clock() - target_ns > skip_ns:
                send_ns[i] = -1
                continue
            stamps[i], send_ns[i] = self._publish(tick.target, i % n_frames)
            if progress is not None and (i + 1) % progress_every == 0:
                progress(progress_every)
        time.sleep(drain_s)
        end = clock()
        replies = {name: list(r) for name, r in self.replies.items()}
        return SessionRecord(list(ticks), send_ns, stamps, t0, replies, end, self.planner_self)


def measure(probe: LatencyProbe, cfg, watched: dict, progress: Callable[[int], None] | None = None):
    """The measured part, shared by `planner hil` and this node's main: sample the watched processes'
    CPU and memory while publishing the schedule, then analyse. Returns (record, samples, report)."""
    from planner.hil import ResourceSampler, analyze, make_schedule

    sampler = ResourceSampler(watched, every_s=1.0 if cfg.soak else 0.5).start()
    try:
        rec = probe.run(make_schedule(cfg), cfg.drain_s, progress=progress,
                        progress_every=max(1, int(cfg.rate_hz)))
    finally:
        samples = sampler.stop()
    return rec, samples, analyze(rec, cfg, samples)


def main(args: list[str] | None = None) -> int:
    """Stand-alone probe (e.g. on the robot's network): parameters mirror `planner hil` options."""
    import json
    from pathlib import Path

    from planner.hil import HilConfig, find_process, load_frames, markdown, save_outputs

    init_ros(args)   # no rclpy signal handlers: Ctrl-C stops the publish loop with KeyboardInterrupt
    params = Node("latency_probe_params")
    declared = {"rate_hz": 50.0, "count": 1000, "floor_count": -1, "deadline_ms": 10.0, "source": "sim",
                "scan_topic": "/scan", "odom_topic": "/odom", "goal_topic": "/goal_pose",
                "cmd_vel_topic": "/cmd_vel", "floor_namespace": "/hil_floor", "planner_pid": 0,
                "planner_process": "", "out_dir": "runs/hil/probe", "startup_timeout_s": 60.0}
    p = {k: params.declare_parameter(k, v).value for k, v in declared.items()}
    params.destroy_node()
    try:
        cfg = HilConfig(rate_hz=p["rate_hz"], count=p["count"], floor_count=p["floor_count"],
                        deadline_ms=p["deadline_ms"])
        cfg.validate()
        if not p["floor_namespace"]:
            cfg = HilConfig(**{**cfg.__dict__, "floor_count": 0})
        targets = {"planner": Topics(p["scan_topic"], p["odom_topic"], p["goal_topic"], p["cmd_vel_topic"])}
        if cfg.floor_scans:
            targets["floor"] = Topics().in_namespace(p["floor_namespace"])
        frames = load_frames(p["source"], cfg, targets["planner"])
        probe = LatencyProbe(targets, frames, cfg.rate_hz).start()
        probe.wait_for_discovery(p["startup_timeout_s"])
        probe.wait_for_replies(cfg.rate_hz, p["startup_timeout_s"])
        proc = find_process(p["planner_pid"] or None, p["planner_process"] or None)
        rec, samples, report = measure(probe, cfg, {"planner": proc} if proc else {})
        probe.stop()
        save_outputs(Path(p["out_dir"]), rec, report, samples)
        sys.stdout.write(markdown(report))
        sys.stderr.write(json.dumps(report["outputs"]) + "\n")
    except PlannerError as exc:
        sys.stderr.write(f"latency_probe: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
