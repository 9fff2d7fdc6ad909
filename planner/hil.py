"""Hardware-in-the-loop latency measurement: schedule, scan sources, matching, report, plots.

Plain Python (no rclpy here): `ros_nodes/latency_probe.py` does the publishing and receiving and hands
its raw record to `analyze`; `planner hil` wires it up. Everything here is testable without ROS.

How a latency is measured: the probe stamps each LaserScan, publishes it and notes its own monotonic
clock; the planner copies that stamp into the TwistStamped it publishes on cmd_vel; the probe matches the
command to the scan by stamp and subtracts. Both times come from the probe's clock, so the round trip
needs no clock sync even when the planner runs on another host.

Two targets are measured in one run, interleaved (the floor's scans fall half a period after the
planner's, so both see the same machine load): "planner" (the real planner node) and "floor" (a bare
echo node on the same middleware: the floor).
"""
from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from planner.config import require
from planner.errors import ConfigError, PlannerError, SensorError
from planner.report import format_table, latency_stats
from planner.sensing import Pose2D, Scan, Twist2D

TARGETS = ("planner", "floor")
KINDS = ("warmup", "steady", "burst")


# ----------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class HilConfig:
    """One HIL session. Validated once at the edge (CLI / node parameters)."""
    rate_hz: float = 50.0          # steady publish rate of scan + odometry to the planner
    count: int = 1000              # measured steady scans sent to the planner
    floor_count: int = -1          # measured scans to the echo floor (-1: as many as the planner; 0: none)
    deadline_ms: float = 10.0      # a command later than this after its scan is a deadline miss
    warmup: int = 25               # unmeasured scans per target before measuring (model warm-up, caches)
    burst_size: int = 0            # extra back-to-back scans per burst (0: no bursts)
    burst_every_s: float = 5.0     # seconds between bursts
    drain_s: float = 1.0           # wait this long after the last scan for late commands
    soak: bool = False             # report memory growth as a soak result

    def validate(self) -> None:
        require(0 < self.rate_hz <= 1000, "rate must be in (0, 1000] Hz")
        require(self.count >= 1, "count must be at least 1")
        require(self.floor_count >= -1, "floor count must be >= 0 (or -1 for the default)")
        require(self.deadline_ms > 0, "deadline must be positive")
        require(self.warmup >= 0, "warmup must be >= 0")
        require(self.burst_size >= 0, "burst size must be >= 0")
        require(self.burst_every_s > 0, "burst period must be positive")
        require(self.drain_s >= 0, "drain time must be >= 0")

    @property
    def floor_scans(self) -> int:
        return self.count if self.floor_count < 0 else min(self.floor_count, self.count)


def parse_burst(text: str) -> tuple[int, float]:
    """'SIZE@EVERY_S' (e.g. '10@5': 10 extra scans back to back every 5 s) -> (size, every_s)."""
    try:
        size_s, _, every_s = text.partition("@")
        size, every = int(size_s), float(every_s or 5.0)
    except ValueError:
        raise ConfigError(f"--burst wants SIZE@SECONDS (e.g. 10@5), got {text!r}") from None
    require(size >= 1 and every > 0, f"--burst wants SIZE >= 1 and SECONDS > 0, got {text!r}")
    return size, every


@dataclass(frozen=True)
class Topics:
    """The topics of one target (planner or echo floor)."""
    scan: str = "/scan"
    odom: str = "/odom"
    goal: str = "/goal_pose"
    cmd_vel: str = "/cmd_vel"

    def in_namespace(self, ns: str) -> "Topics":
        ns = "/" + ns.strip("/")
        return Topics(*(ns + ("/" + t.lstrip("/")) for t in (self.scan, self.odom, self.goal, self.cmd_vel)))


def parse_topics(text: str, base: Topics = Topics()) -> Topics:
    """'scan=/front/scan,cmd_vel=/robot/cmd_vel' -> Topics (unnamed ones keep their defaults)."""
    values = dict(base.__dict__)
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, topic = item.partition("=")
        if not sep or key not in values or not topic:
            raise ConfigError(f"--topics wants KEY=TOPIC items with KEY in {sorted(values)}, got {item!r}")
        values[key] = topic
    return Topics(**values)


# --------------------------------------------------------------------------------------------- schedule

@dataclass(frozen=True)
class Tick:
    t: float        # seconds after the session start at which to publish
    target: str     # "planner" | "floor"
    kind: str       # "warmup" | "steady" | "burst"


def make_schedule(cfg: HilConfig) -> list[Tick]:
    """Every scan the probe will send, in time order. The planner gets a steady stream at the rate (what
    it sees on a robot); the echo floor gets its scans half a period later, while the planner is idle
    (so both are measured side by side under the same machine load without queueing behind each other).
    Bursts add back-to-back planner scans at a planner tick."""
    period = 1.0 / cfg.rate_hz
    n_floor = cfg.floor_scans
    ticks: list[Tick] = []
    next_burst = cfg.burst_every_s
    for j in range(cfg.warmup + cfg.count):
        t = j * period
        measured = j - cfg.warmup   # < 0 while warming up
        kind = "warmup" if measured < 0 else "steady"
        ticks.append(Tick(t, "planner", kind))
        if cfg.burst_size and measured >= 0 and t >= next_burst:
            ticks += [Tick(t, "planner", "burst")] * cfg.burst_size
            next_burst = t + cfg.burst_every_s
        # floor scans spread evenly over the planner periods (every period by default)
        if n_floor and (measured < 0 or (measured + 1) * n_floor // cfg.count > measured * n_floor // cfg.count):
            ticks.append(Tick(t + period / 2, "floor", kind))
    return ticks


# ---------------------------------------------------------------------------------------------- sources

@dataclass(frozen=True)
class Frame:
    """What the probe publishes for one tick: a scan, the odometry at that moment and the goal."""
    scan: Scan
    pose: Pose2D
    twist: Twist2D
    goal: Pose2D


def sim_frames(n: int, level: int = 2, seed: int = 0, beams: int = 720, rate_hz: float = 50.0) -> list[Frame]:
    """Scans and odometry from real simulator episodes (planner/Nav-v0, PyBullet lidar with `beams`
    beams over 270 degrees like a typical 2D lidar), the robot driven by the privileged expert.
    The simulator steps at `rate_hz`, the rate the probe publishes at, so robot and obstacles move
    between consecutive scans as much as they would in that time (a planner that tracks motion across
    scans sees real speeds). Frames within 1 m of the goal are left out (a planner that reached its
    goal just stops)."""
    try:
        import gymnasium
        import sim  # noqa: F401  (registers planner/Nav-v0)
        from sim.core import make_scan
        env = gymnasium.make("planner/Nav-v0", level=level, split="test", lidar={"beams": beams},
                             control_hz=min(max(rate_hz, 1.0), 1000.0))
    except Exception as exc:  # the simulator is another module; say what is missing
        raise PlannerError(f"simulator source unavailable ({type(exc).__name__}: {exc}); "
                           "use --source mcap:PATH") from exc
    frames: list[Frame] = []
    u = env.unwrapped
    episode = 0
    try:
        while len(frames) < n:
            env.reset(seed=seed + episode)
            episode += 1
            goal = u.world.goal
            for _ in range(2000):
                if math.hypot(u.x - goal.x, u.y - goal.y) > 1.0:
                    # The raw scan a driver would publish at this pose (the env keeps only its summary).
                    scan = make_scan(u.scene.ray_ranges(u.x, u.y, u.yaw), u.lidar_cfg, u.np_random, u.t)
                    frames.append(Frame(scan, Pose2D(u.x, u.y, u.yaw), Twist2D(u.v, u.w),
                                        Pose2D(goal.x, goal.y, goal.yaw)))
                if len(frames) >= n:
                    break
                _, _, terminated, truncated, _ = env.step(u.expert_action())
                if terminated or truncated:
                    break
    finally:
        env.close()
    return frames


def load_frames(source: str, cfg: HilConfig, topics: Topics = Topics(), pool: int = 1000) -> list[Frame]:
    """'sim' (scans from simulator episodes) or 'mcap:PATH' (a rosbag2 recording). The probe cycles
    through at most `pool` frames (pre-generated, so producing them costs nothing while measuring)."""
    if source == "sim":
        return sim_frames(min(pool, cfg.count + cfg.floor_scans + 2 * cfg.warmup), rate_hz=cfg.rate_hz)
    if source.startswith("mcap:"):
        return mcap_frames(source[5:], topics.scan, topics.odom, topics.goal, limit=pool)
    raise ConfigError(f"--source must be 'sim' or 'mcap:PATH', got {source!r}")


def mcap_frames(path: str | Path, scan_topic: str = "/scan", odom_topic: str = "/odom",
                goal_topic: str = "/goal_pose", limit: int | None = None) -> list[Frame]:
    """LaserScan + Odometry replayed from a rosbag2 MCAP file (read with mcap-ros2-support, no ROS
    install needed). Each scan is paired with the latest odometry before it; the goal is the latest
    goal message, or 5 m ahead of the first pose when the bag has none."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from ros_nodes.convert import goal_from_msg, odom_from_msg, scan_from_msg

    path = Path(path)
    if path.is_dir():  # a rosbag2 folder: its one .mcap file
        files = sorted(path.glob("*.mcap"))
        if len(files) != 1:
            raise PlannerError(f"{path}: expected one .mcap file in the bag folder, found {len(files)}")
        path = files[0]
    if not path.is_file():
        raise PlannerError(f"MCAP file not found: {path}")
    frames: list[Frame] = []
    pose, twist, goal = Pose2D(), Twist2D(), None
    topics = {scan_topic, odom_topic, goal_topic}
    try:
        with open(path, "rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            summary = reader.get_summary()
            have = {c.topic for c in summary.channels.values()} if summary else set()
            if summary and scan_topic not in have:
                raise SensorError(f"{path}: no {scan_topic} topic (has {sorted(have)})")
            for _schema, channel, _message, msg in reader.iter_decoded_messages(topics=list(topics)):
                # The decoded messages have the rclpy messages' fields, so the node's converters apply.
                if channel.topic == odom_topic:
                    pose, twist = odom_from_msg(msg)
                elif channel.topic == goal_topic:
                    goal = goal_from_msg(msg)
                elif channel.topic == scan_topic:
                    scan = scan_from_msg(msg)
                    if goal is None:
                        goal = Pose2D(pose.x + 5.0 * math.cos(pose.yaw), pose.y + 5.0 * math.sin(pose.yaw))
                    frames.append(Frame(scan, pose, twist, goal))
                    if limit and len(frames) >= limit:
                        break
    except PlannerError:
        raise
    except Exception as exc:
        raise PlannerError(f"cannot read MCAP {path}: {type(exc).__name__}: {exc}") from exc
    if not frames:
        raise SensorError(f"{path}: no {scan_topic} messages")
    return frames


_BUILTIN_TYPES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
                  "uint32", "int64", "uint64", "string", "wstring"}


def _msgdef(pkg_type: str) -> str:
    """rosbag2's concatenated message definition: the main .msg text, then each nested type once
    ("MSG: pkg/Type" sections), read from the installed message packages."""
    # ROS installs keep .msg files in <prefix>/share/<pkg>/msg; the PyPI wheels put them under the venv.
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]

    def text(t: str) -> str:
        pkg, name = t.split("/")[0], t.split("/")[-1]
        for prefix in prefixes:
            f = Path(prefix) / "share" / pkg / "msg" / f"{name}.msg"
            if f.is_file():
                return f.read_text()
        raise PlannerError(f"message definition {t} not found under {prefixes}")

    order, queue = [], [pkg_type]
    while queue:
        t = queue.pop(0)
        if t in order:
            continue
        order.append(t)
        for line in text(t).splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) < 2 or "=" in line.split("#", 1)[0]:
                continue  # blank, comment or constant
            ftype = re.split(r"[\[<]", words[0])[0]
            if ftype in _BUILTIN_TYPES:
                continue
            pkg, _, name = ftype.rpartition("/")
            queue.append(f"{pkg or t.split('/')[0]}/msg/{name}")
    parts = [text(order[0])]
    parts += ["=" * 80 + f"\nMSG: {t.replace('/msg/', '/')}\n" + text(t) for t in order[1:]]
    return "\n".join(parts)


def write_mcap(path: str | Path, frames: Sequence[Frame], rate_hz: float = 10.0,
               scan_topic: str = "/scan", odom_topic: str = "/odom", goal_topic: str = "/goal_pose") -> Path:
    """Record frames as a rosbag2-style MCAP (ros2msg schemas, CDR messages), e.g. to replay a
    simulator run or to build a test bag. The goal is written when it changes, odometry just before
    each scan."""
    from mcap_ros2.writer import Writer

    path = Path(path)
    with open(path, "wb") as f:
        writer = Writer(f)
        scan_schema = writer.register_msgdef("sensor_msgs/msg/LaserScan", _msgdef("sensor_msgs/msg/LaserScan"))
        odom_schema = writer.register_msgdef("nav_msgs/msg/Odometry", _msgdef("nav_msgs/msg/Odometry"))
        goal_schema = writer.register_msgdef("geometry_msgs/msg/PoseStamped",
                                             _msgdef("geometry_msgs/msg/PoseStamped"))
        goal = None
        for i, fr in enumerate(frames):
            t_ns = int(1_700_000_000e9) + int(i * 1e9 / rate_hz)
            stamp = {"sec": t_ns // 1_000_000_000, "nanosec": t_ns % 1_000_000_000}
            if fr.goal != goal:
                goal = fr.goal
                writer.write_message(goal_topic, goal_schema, {
                    "header": {"stamp": stamp, "frame_id": "odom"},
                    "pose": {"position": {"x": goal.x, "y": goal.y, "z": 0.0},
                             "orientation": {"x": 0.0, "y": 0.0, "z": math.sin(goal.yaw / 2),
                                             "w": math.cos(goal.yaw / 2)}}}, log_time=t_ns, publish_time=t_ns)
            qz, qw = math.sin(fr.pose.yaw / 2), math.cos(fr.pose.yaw / 2)
            writer.write_message(odom_topic, odom_schema, {
                "header": {"stamp": stamp, "frame_id": "odom"}, "child_frame_id": "base_link",
                "pose": {"pose": {"position": {"x": fr.pose.x, "y": fr.pose.y, "z": 0.0},
                                  "orientation": {"x": 0.0, "y": 0.0, "z": qz, "w": qw}},
                         "covariance": [0.0] * 36},
                "twist": {"twist": {"linear": {"x": fr.twist.v, "y": 0.0, "z": 0.0},
                                    "angular": {"x": 0.0, "y": 0.0, "z": fr.twist.w}},
                          "covariance": [0.0] * 36}}, log_time=t_ns, publish_time=t_ns)
            s = fr.scan
            n = len(s.ranges)
            writer.write_message(scan_topic, scan_schema, {
                "header": {"stamp": stamp, "frame_id": s.frame_id},
                "angle_min": s.angle_min, "angle_max": s.angle_min + s.angle_increment * (n - 1),
                "angle_increment": s.angle_increment, "time_increment": 0.0, "scan_time": 1.0 / rate_hz,
                "range_min": s.range_min, "range_max": s.range_max,
                "ranges": [float(r) for r in s.ranges], "intensities": []}, log_time=t_ns + 1,
                publish_time=t_ns + 1)
        writer.finish()
    return path


# ---------------------------------------------------------------------------------------------- record

@dataclass
class SessionRecord:
    """What the probe hands back: send times per tick and replies per target (perf_counter ns)."""
    ticks: list[Tick]
    send_ns: np.ndarray            # int64 per tick: probe monotonic clock just before publishing the scan
    stamps: np.ndarray             # int64 per tick: the header stamp (ns) the scan carried
    t0_ns: int                     # monotonic time of schedule t = 0
    replies: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # target -> [(stamp, recv_ns)]
    end_ns: int = 0                # when collection stopped
    planner_self: dict[str, str] | None = None   # planner_node's last /diagnostics values (None: not seen)


# ----------------------------------------------------------------------------------------- resources

class ResourceSampler:
    """Samples CPU% and RSS of processes (psutil) in a background thread."""

    def __init__(self, processes: dict[str, Any], every_s: float = 0.5):
        import psutil
        self._psutil = psutil
        self.procs = {name: psutil.Process(p) if isinstance(p, int) else p for name, p in processes.items()}
        self.every_s = every_s
        self.samples: dict[str, list[tuple[int, float, float]]] = {n: [] for n in self.procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hil-resources", daemon=True)

    def start(self) -> "ResourceSampler":
        for p in self.procs.values():
            try:
                p.cpu_percent(None)  # first call primes the counter
            except self._psutil.Error:
                pass
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            now = time.perf_counter_ns()
            for name, p in self.procs.items():
                try:
                    with p.oneshot():
                        cpu, rss = p.cpu_percent(None), p.memory_info().rss / 2**20
                except self._psutil.Error:
                    continue
                self.samples[name].append((now, cpu, rss))

    def stop(self) -> dict[str, list[tuple[int, float, float]]]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * self.every_s + 1)
        return self.samples


def scheduling() -> str:
    """How this process is scheduled: SCHED_OTHER, or SCHED_FIFO/RR with its priority."""
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    policy = os.sched_getscheduler(0)
    name = names.get(policy, str(policy))
    return name if policy == os.SCHED_OTHER else f"{name} {os.sched_getparam(0).sched_priority}"


def find_process(pid: int | None = None, name: str | None = None) -> Any:
    """The planner process by pid, or by a name in its command line (first match, not ourselves)."""
    import psutil
    if pid:
        try:
            return psutil.Process(pid)
        except psutil.Error as exc:
            raise PlannerError(f"no process with pid {pid}: {exc}") from exc
    if name:
        me = os.getpid()
        found = [p for p in psutil.process_iter(["pid", "name", "cmdline"])
                 if p.info["pid"] != me and (name == p.info.get("name") or name in " ".join(p.info.get("cmdline") or []))]
        # `timeout`/shell wrappers also carry the name; prefer the Python process itself.
        python = [p for p in found if "python" in (p.info.get("name") or "")]
        found = python or found
        if len(found) > 1:
            raise PlannerError(f"several processes match {name!r} (pids {', '.join(str(p.pid) for p in found)}): "
                               "pass --planner-pid")
        if not found:
            raise PlannerError(f"no running process matches {name!r}")
        return found[0]
    return None


def start_stress(n: int) -> list[subprocess.Popen]:
    """N busy processes (pure Python spin) competing for the CPU at normal priority."""
    def normal_priority() -> None:  # even when the probe runs SCHED_FIFO (children inherit it)
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                             preexec_fn=normal_priority) for _ in range(n)]


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 5.0) -> None:
    procs = [p for p in procs if p is not None]
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --------------------------------------------------------------------------------------------- analysis

def analyze(rec: SessionRecord, cfg: HilConfig,
            resources: dict[str, list[tuple[int, float, float]]] | None = None) -> dict[str, Any]:
    """The report: per target and kind, sent / received / dropped, latency percentiles, deadline misses,
    jitter; publish precision; CPU and memory; targets. Only the first reply to a scan counts; replies
    whose stamp the probe never sent are counted as `unmatched`."""
    n = len(rec.ticks)
    sent = rec.send_ns >= 0   # the probe skips ticks it could not send within a period (probe starved)
    targets = np.where(sent, [t.target for t in rec.ticks], "skipped")
    kinds = np.array([t.kind for t in rec.ticks])
    index = {int(s): i for i, s in enumerate(rec.stamps) if sent[i]}
    latency_ms = np.full(n, np.nan)
    recv_ns = np.full(n, -1, dtype=np.int64)
    duplicates = {t: 0 for t in TARGETS}
    unmatched = {t: 0 for t in TARGETS}
    wrong_target = {t: 0 for t in TARGETS}
    for target, replies in rec.replies.items():
        for stamp, r_ns in replies:
            i = index.get(int(stamp))
            if i is None:
                unmatched[target] += 1
            elif targets[i] != target:
                wrong_target[target] += 1
            elif recv_ns[i] >= 0:
                duplicates[target] += 1
            else:
                recv_ns[i] = r_ns
                latency_ms[i] = (r_ns - rec.send_ns[i]) / 1e6

    report: dict[str, Any] = {"config": {
        "rate_hz": cfg.rate_hz, "count": cfg.count, "floor_count": cfg.floor_scans,
        "deadline_ms": cfg.deadline_ms, "warmup": cfg.warmup,
        "burst_size": cfg.burst_size, "burst_every_s": cfg.burst_every_s if cfg.burst_size else None,
        "drain_s": cfg.drain_s, "soak": cfg.soak}}

    for target in TARGETS:
        section: dict[str, Any] = {}
        for kind in ("steady", "burst"):
            mask = (targets == target) & (kinds == kind)
            if kind == "burst" and not mask.any():
                continue
            section[kind] = _kind_stats(latency_ms[mask], cfg.deadline_ms)
        if target == "planner" or (targets == target).any():
            steady = (targets == target) & (kinds == "steady")
            section["steady"]["jitter"] = _jitter(rec, steady, recv_ns, cfg.rate_hz)
            section["replies"] = {"duplicates": duplicates[target], "unmatched": unmatched[target],
                                  "wrong_target": wrong_target[target]}
            report[target] = section

    # How precisely the probe kept its schedule (a late publish is the probe's fault, not the planner's).
    lateness_ms = (rec.send_ns - rec.t0_ns) / 1e6 - np.array([t.t for t in rec.ticks]) * 1e3
    steady_all = (kinds != "burst") & sent
    report["publish"] = {"lateness_ms": _short(latency_stats(lateness_ms[steady_all])),
                         "skipped": {t: int(((~sent) & np.array([x.target == t for x in rec.ticks])
                                             & (kinds != "warmup")).sum()) for t in TARGETS},
                         "period_std_ms": float(np.std(np.diff(rec.send_ns[steady_all]) / 1e6))
                         if steady_all.sum() > 2 else math.nan,
                         "duration_s": (rec.end_ns - rec.t0_ns) / 1e9 if rec.end_ns else math.nan}

    p, f = report["planner"]["steady"], report.get("floor", {}).get("steady")
    report["ratio_to_floor"] = {k: (p["latency_ms"][k] / f["latency_ms"][k]
                                    if f and f["latency_ms"]["count"] and f["latency_ms"][k] > 0 else math.nan)
                                for k in ("p50", "p90", "p99", "max")}
    self_timed = _planner_self(rec.planner_self, p, f)
    if self_timed:
        report["planner_self"] = self_timed
    report["resources"] = _resources(rec, resources or {}, cfg)
    report["targets"] = check_targets(report)
    report["_latency_ms"] = latency_ms   # per tick, for plots / CSV (dropped from JSON by the caller)
    report["_recv_ns"] = recv_ns
    return report


def _planner_self(values: dict[str, str] | None, planner: dict[str, Any],
                  floor: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the planner's round trip goes, from planner_node's own /diagnostics: its scan callback
    (entry to command published: conversion, sensing, Planner.decide, safety guard, publish) and
    Planner.decide alone. Round trip minus callback is the transport, comparable to the echo floor.
    The node's figures cover its last 20,000 scans since activation (warm-up included)."""
    if not values:
        return None
    try:
        out = {"scans": int(values["scans_total"]),
               # 0 means every reply was a stop (no goal, stale input): the model was never timed.
               "decisions": int(values["decisions"]), "fallbacks": int(values["fallbacks"]),
               "callback_ms": {k: float(values[f"latency_{k}_ms_total"]) for k in ("p50", "p99", "max")},
               "decide_ms": {k: float(values[f"decide_{k}_ms_total"]) for k in ("p50", "p99", "max")}}
    except (KeyError, ValueError):   # another planner, or an older planner_node
        return None
    out["round_trip_minus_callback_p50_ms"] = planner["latency_ms"]["p50"] - out["callback_ms"]["p50"]
    out["floor_p50_ms"] = floor["latency_ms"]["p50"] if floor and floor["latency_ms"]["count"] else math.nan
    return out


def _kind_stats(lat: np.ndarray, deadline_ms: float) -> dict[str, Any]:
    got = lat[~np.isnan(lat)]
    sent, received = int(lat.size), int(got.size)
    misses = int((got > deadline_ms).sum())
    return {"sent": sent, "received": received, "dropped": sent - received,
            "deadline_misses": misses,
            "miss_fraction": (misses + sent - received) / sent if sent else math.nan,
            "latency_ms": latency_stats(got)}


def _jitter(rec: SessionRecord, steady: np.ndarray, recv_ns: np.ndarray, rate_hz: float) -> dict[str, float]:
    """Latency std, and how regular the command stream is: replies to consecutive scans should arrive
    one period apart; the deviation from that is what a controller downstream sees."""
    idx = np.flatnonzero(steady)
    ok = recv_ns[idx] >= 0
    lat = (recv_ns[idx] - rec.send_ns[idx])[ok] / 1e6
    sched = np.array([rec.ticks[i].t for i in idx])
    nominal = 1.0 / rate_hz
    pair = ok[1:] & ok[:-1] & (np.abs(np.diff(sched) - nominal) < 1e-9)
    dev = (np.diff(recv_ns[idx]) / 1e9 - nominal)[pair] * 1e3
    return {"latency_std_ms": float(np.std(lat)) if lat.size else math.nan,
            "cmd_period_std_ms": float(np.std(dev)) if dev.size > 1 else math.nan,
            "cmd_period_max_dev_ms": float(np.max(np.abs(dev))) if dev.size else math.nan}


def _short(stats: dict[str, float]) -> dict[str, float]:
    return {k: stats[k] for k in ("p50", "p99", "max")}


def _resources(rec: SessionRecord, samples: dict[str, list[tuple[int, float, float]]],
               cfg: HilConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Memory growth is measured after warm-up: from the first tenth of the measured part to the last.
    first_measured = next((i for i, t in enumerate(rec.ticks) if t.kind != "warmup"), 0)
    t_start = rec.send_ns[first_measured] if len(rec.send_ns) else rec.t0_ns
    for name, rows in samples.items():
        if not rows:
            out[name] = None
            continue
        a = np.asarray(rows, dtype=np.float64)
        measured = a[a[:, 0] >= t_start]
        if measured.shape[0] == 0:
            measured = a
        k = max(1, measured.shape[0] // 10)
        rss_start, rss_end = float(np.median(measured[:k, 2])), float(np.median(measured[-k:, 2]))
        out[name] = {"samples": int(measured.shape[0]),
                     "cpu_percent": {"p50": float(np.median(measured[:, 1])),
                                     "mean": float(np.mean(measured[:, 1])),
                                     "max": float(np.max(measured[:, 1]))},
                     "rss_mb": {"start": rss_start, "end": rss_end, "max": float(np.max(measured[:, 2]))},
                     "rss_growth_pct": 100.0 * (rss_end - rss_start) / rss_start if rss_start else math.nan}
    return out


def check_targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets (50 Hz, 10,000 scans): p99 <= 10 ms, <= 0.1% misses, nothing dropped,
    p50 <= 1.5x the echo floor, and in a soak memory growth < 5%."""
    p = report["planner"]["steady"]
    lat = p["latency_ms"]
    checks: dict[str, Any] = {
        "p99_within_deadline": bool(lat["count"] and lat["p99"] <= report["config"]["deadline_ms"]),
        "misses_at_most_0.1pct": bool(p["sent"] and p["miss_fraction"] <= 0.001),
        "nothing_dropped": p["dropped"] == 0,
    }
    r = report["ratio_to_floor"]["p50"]
    checks["p50_at_most_1.5x_floor"] = None if math.isnan(r) else bool(r <= 1.5)
    if "planner_self" in report:
        # Without a goal every reply is a stop: fast, and not the model. (Warm-up scans before the goal
        # arrived are stops too, so decisions < scans is normal.)
        checks["model_decided"] = report["planner_self"]["decisions"] > 0
    planner_res = report["resources"].get("planner")
    if report["config"]["soak"]:
        g = planner_res["rss_growth_pct"] if planner_res else math.nan
        checks["memory_growth_under_5pct"] = None if math.isnan(g) else bool(g < 5.0)
    checks["all_met"] = all(v for v in checks.values() if v is not None)
    return checks


# ----------------------------------------------------------------------------------------------- output

def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the per-tick arrays (those go to the CSV)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


def markdown(report: dict[str, Any]) -> str:
    """A human summary: one latency table (planner, floor, bursts), resources, targets."""
    cfg = report["config"]
    rows = []
    for target in TARGETS:
        for kind in ("steady", "burst"):
            s = report.get(target, {}).get(kind)
            if not s:
                continue
            lat = s["latency_ms"]
            rows.append([f"{target} ({kind})", s["sent"], s["received"], s["dropped"], lat["p50"], lat["p90"],
                         lat["p99"], lat["p999"], lat["max"], s["deadline_misses"],
                         f"{100 * s['miss_fraction']:.3f}%" if s["sent"] else "-"])
    head = ["target", "sent", "recv", "dropped", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
            f"misses >{cfg['deadline_ms']:g}ms", "miss+drop"]
    lines = [f"## HIL latency: {cfg['rate_hz']:g} Hz, {cfg['count']} planner scans, "
             f"deadline {cfg['deadline_ms']:g} ms", "", format_table(rows, head), ""]
    r = report["ratio_to_floor"]
    jit = report["planner"]["steady"]["jitter"]
    pub = report["publish"]
    lines += [f"- planner / echo floor: p50 {r['p50']:.2f}x, p99 {r['p99']:.2f}x, max {r['max']:.2f}x"
              if not math.isnan(r["p50"]) else "- no echo floor measured",
              *_self_lines(report.get("planner_self")),
              f"- planner jitter: latency std {jit['latency_std_ms']:.3f} ms, command period std "
              f"{jit['cmd_period_std_ms']:.3f} ms (max deviation {jit['cmd_period_max_dev_ms']:.3f} ms)",
              f"- probe publish lateness: p50 {pub['lateness_ms']['p50']:.3f} ms, p99 "
              f"{pub['lateness_ms']['p99']:.3f} ms, max {pub['lateness_ms']['max']:.3f} ms "
              f"(period std {pub['period_std_ms']:.3f} ms; skipped because the probe was starved: "
              f"{sum(pub['skipped'].values())})"]
    for name, res in report["resources"].items():
        if res:
            lines.append(f"- {name} process: CPU p50 {res['cpu_percent']['p50']:.0f}% max "
                         f"{res['cpu_percent']['max']:.0f}%, RSS {res['rss_mb']['start']:.1f} -> "
                         f"{res['rss_mb']['end']:.1f} MB (max {res['rss_mb']['max']:.1f}, growth "
                         f"{res['rss_growth_pct']:+.2f}%)")
    cond = report.get("conditions")
    if cond:
        lines.append("- conditions: " + ", ".join(f"{k}={v}" for k, v in cond.items()))
    lines += ["", "Targets: " + ", ".join(f"{k} {'-' if v is None else ('PASS' if v else 'FAIL')}"
                                          for k, v in report["targets"].items() if k != "all_met")]
    return "\n".join(lines) + "\n"


def _self_lines(ps: dict[str, Any] | None) -> list[str]:
    if not ps:
        return []
    c, d = ps["callback_ms"], ps["decide_ms"]
    if not ps["decisions"]:
        return [f"- **the planner made no decisions** in {ps['scans']} scans (no goal, or stale inputs): "
                "every reply was a stop, so these latencies are not the model's"]
    return [f"- planner's own time per scan (its /diagnostics, {ps['scans']} scans, {ps['decisions']} decisions): "
            "callback p50 / p99 / max "
            f"{c['p50']:.2f} / {c['p99']:.2f} / {c['max']:.2f} ms, of which Planner.decide p50 {d['p50']:.2f} ms; "
            f"round trip p50 minus callback p50 = {ps['round_trip_minus_callback_p50_ms']:.2f} ms "
            f"(echo floor p50 {ps['floor_p50_ms']:.2f} ms)"]


def write_csv(path: Path, rec: SessionRecord, report: dict[str, Any]) -> None:
    lat = report["_latency_ms"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "target", "kind", "t_sched_s", "t_sent_s", "stamp_ns", "latency_ms"])
        for i, t in enumerate(rec.ticks):
            skipped = rec.send_ns[i] < 0
            w.writerow([i, t.target, "skipped" if skipped else t.kind, f"{t.t:.6f}",
                        "" if skipped else f"{(rec.send_ns[i] - rec.t0_ns) / 1e9:.6f}",
                        int(rec.stamps[i]), "" if math.isnan(lat[i]) else f"{lat[i]:.4f}"])


def plot(path: Path, rec: SessionRecord, report: dict[str, Any],
         resources: dict[str, list[tuple[int, float, float]]] | None = None) -> Path:
    """Histogram of latencies (planner vs floor, deadline marked) and a timeline (latency per scan,
    drops marked, planner RSS on a second axis)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = report["_latency_ms"]
    deadline = report["config"]["deadline_ms"]
    t_sent = (rec.send_ns - rec.t0_ns) / 1e9
    targets = np.where(rec.send_ns >= 0, [t.target for t in rec.ticks], "skipped")
    kinds = np.array([t.kind for t in rec.ticks])
    colors = {"planner": "tab:blue", "floor": "tab:gray"}
    fig, (ax_h, ax_t) = plt.subplots(2, 1, figsize=(10, 8))
    finite = lat[np.isfinite(lat)]
    hi = max(deadline * 1.2, float(finite.max()) if finite.size else deadline)
    bins = np.logspace(np.log10(max(0.01, float(finite.min()) * 0.9 if finite.size else 0.05)),
                       np.log10(hi * 1.05), 80)
    for target in TARGETS:
        m = (targets == target) & (kinds == "steady") & np.isfinite(lat)
        if m.any():
            ax_h.hist(lat[m], bins=bins, alpha=0.6, color=colors[target],
                      label=f"{target} (n={m.sum()}, p50 {np.median(lat[m]):.2f} ms)")
    ax_h.axvline(deadline, color="tab:red", ls="--", label=f"deadline {deadline:g} ms")
    ax_h.set_xscale("log")
    ax_h.set_yscale("log")
    ax_h.set_xlabel("round-trip latency scan -> cmd_vel (ms)")
    ax_h.set_ylabel("scans")
    ax_h.legend()
    ax_h.set_title(f"HIL latency at {report['config']['rate_hz']:g} Hz")
    for target in TARGETS:
        for kind, marker in (("steady", "."), ("burst", "x")):
            m = (targets == target) & (kinds == kind) & np.isfinite(lat)
            if m.any():
                ax_t.plot(t_sent[m], lat[m], marker, ms=2 if kind == "steady" else 4, color=colors[target],
                          label=f"{target} {kind}", ls="none")
        dropped = (targets == target) & (kinds != "warmup") & ~np.isfinite(lat)
        if dropped.any():
            ax_t.plot(t_sent[dropped], np.full(dropped.sum(), hi), "v", color="tab:red", ms=4,
                      label=f"{target} dropped ({dropped.sum()})")
    ax_t.axhline(deadline, color="tab:red", ls="--", lw=1)
    ax_t.set_yscale("log")
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("latency (ms)")
    rows = (resources or {}).get("planner")
    if rows:
        a = np.asarray(rows, dtype=np.float64)
        ax_r = ax_t.twinx()
        ax_r.plot((a[:, 0] - rec.t0_ns) / 1e9, a[:, 2], color="tab:green", lw=1, label="planner RSS")
        ax_r.set_ylabel("planner RSS (MiB)", color="tab:green")
    ax_t.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_outputs(out_dir: Path, rec: SessionRecord, report: dict[str, Any],
                 resources: dict[str, list[tuple[int, float, float]]] | None = None) -> dict[str, str]:
    """hil_report.json, hil_report.md, hil_latency.png and hil_samples.csv in out_dir."""
    from planner.report import to_json
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "hil_report.json", "markdown": out_dir / "hil_report.md",
             "plot": out_dir / "hil_latency.png", "csv": out_dir / "hil_samples.csv"}
    report["outputs"] = {k: str(v) for k, v in paths.items()}
    paths["json"].write_text(to_json(public(report)) + "\n")
    paths["markdown"].write_text(markdown(report))
    write_csv(paths["csv"], rec, report)
    plot(paths["plot"], rec, report, resources)
    return report["outputs"]
