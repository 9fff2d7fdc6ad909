"""HIL latency tool: schedule, matching and report logic on known records; MCAP replay; and one short
real session (`planner hil`) against the real planner node and echo node in separate processes.
The latency figures themselves belong to the benchmark (docs/BENCHMARKS.md), not to these tests."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.errors import ConfigError, PlannerError, SensorError
from planner.hil import (Frame, HilConfig, SessionRecord, Topics, analyze, make_schedule, markdown,
                         mcap_frames, parse_burst, parse_topics, public, save_outputs, write_mcap)
from planner.report import to_json
from planner.sensing import Pose2D, Scan, Twist2D

ROOT = Path(__file__).resolve().parents[1]


def room_frames(n: int, beams: int = 360) -> list[Frame]:
    """A robot driving along a 12 x 6 m rectangular room: exact ray-cast ranges, +inf beyond 8 m."""
    frames = []
    for i in range(n):
        x, y, yaw = -4.0 + 0.02 * i, 0.3 * math.sin(i / 20), 0.05 * math.cos(i / 15)
        a = -math.pi + np.arange(beams) * (2 * math.pi / beams) + yaw
        c, s = np.cos(a), np.sin(a)
        with np.errstate(divide="ignore"):
            tx = np.where(c > 0, (6.0 - x) / c, (-6.0 - x) / c)
            ty = np.where(s > 0, (3.0 - y) / s, (-3.0 - y) / s)
        r = np.minimum(np.abs(tx), np.abs(ty)).astype(np.float32)
        r[r > 8.0] = np.inf
        frames.append(Frame(Scan(r, -math.pi, 2 * math.pi / beams, 0.1, 8.0), Pose2D(x, y, yaw),
                            Twist2D(1.0, 0.1), Pose2D(4.0, 0.0, 0.0)))
    return frames


# --- schedule ---------------------------------------------------------------------------------------

def test_schedule_counts_order_and_floor_offset():
    cfg = HilConfig(rate_hz=50.0, count=100, floor_count=40, warmup=5, burst_size=3, burst_every_s=0.5)
    ticks = make_schedule(cfg)
    count = lambda target, kind: sum(t.target == target and t.kind == kind for t in ticks)
    assert count("planner", "steady") == 100 and count("floor", "steady") == 40
    assert count("planner", "warmup") == 5 and count("floor", "warmup") == 5
    assert count("planner", "burst") % 3 == 0 and count("planner", "burst") >= 3
    times = [t.t for t in ticks]
    assert times == sorted(times)
    planner_t = [t.t for t in ticks if t.target == "planner" and t.kind != "burst"]
    assert np.allclose(np.diff(planner_t), 0.02)           # the planner sees a steady 50 Hz stream
    floor_t = np.array([t.t for t in ticks if t.target == "floor"])
    assert np.allclose((floor_t / 0.02) % 1.0, 0.5)         # half a period after a planner scan


def test_schedule_default_floor_matches_count_and_zero_disables_it():
    assert sum(t.target == "floor" and t.kind == "steady" for t in make_schedule(HilConfig(count=30))) == 30
    assert not any(t.target == "floor" for t in make_schedule(HilConfig(count=30, floor_count=0)))


@pytest.mark.parametrize("bad", [{"rate_hz": 0}, {"count": 0}, {"deadline_ms": -1}, {"floor_count": -2},
                                 {"burst_size": -1}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        HilConfig(**bad).validate()


def test_parse_burst_and_topics():
    assert parse_burst("10@5") == (10, 5.0)
    assert parse_burst("4@0.5") == (4, 0.5)
    for bad in ("x@1", "0@1", "3@-1"):
        with pytest.raises(ConfigError):
            parse_burst(bad)
    t = parse_topics("scan=/front/scan,cmd_vel=/robot/cmd_vel")
    assert t == Topics(scan="/front/scan", cmd_vel="/robot/cmd_vel")
    assert Topics().in_namespace("/hil_floor").cmd_vel == "/hil_floor/cmd_vel"
    with pytest.raises(ConfigError):
        parse_topics("lidar=/x")


# --- analysis on a known record -----------------------------------------------------------------------

def synthetic_record(cfg: HilConfig, latency_ms, drop=(), duplicate=(), stray=0) -> SessionRecord:
    """A record as the probe would hand it back, with chosen latencies per tick (index-aligned)."""
    ticks = make_schedule(cfg)
    t0 = 1_000_000_000
    send = np.array([t0 + round(t.t * 1e9) for t in ticks], dtype=np.int64)
    stamps = np.arange(len(ticks), dtype=np.int64) + 1_700_000_000_000_000_000
    replies = {"planner": [], "floor": []}
    for i, t in enumerate(ticks):
        if i in drop:
            continue
        r = (int(stamps[i]), int(send[i] + latency_ms[i] * 1e6))
        replies[t.target].append(r)
        if i in duplicate:
            replies[t.target].append((r[0], r[1] + 1000))
    replies["planner"] += [(42, t0)] * stray   # e.g. a watchdog stop stamped with "now"
    return SessionRecord(ticks, send, stamps, t0, replies, int(send[-1] + 1e9))


def test_analyze_counts_add_up_and_misses_follow_the_deadline():
    cfg = HilConfig(rate_hz=100.0, count=200, floor_count=50, warmup=4, deadline_ms=5.0)
    ticks = make_schedule(cfg)
    rng = np.random.default_rng(0)
    lat = np.where([t.target == "planner" for t in ticks], rng.uniform(1.0, 8.0, len(ticks)),
                   rng.uniform(0.3, 1.0, len(ticks)))
    steady_planner = [i for i, t in enumerate(ticks) if t.target == "planner" and t.kind == "steady"]
    drop = set(steady_planner[10:13])
    dup = {steady_planner[20]}
    report = analyze(synthetic_record(cfg, lat, drop, dup, stray=2), cfg)
    p = report["planner"]["steady"]
    assert p["sent"] == 200 and p["received"] == 197 and p["dropped"] == 3
    kept = [lat[i] for i in steady_planner if i not in drop]
    assert p["deadline_misses"] == sum(x > 5.0 for x in kept)
    assert p["miss_fraction"] == pytest.approx((p["deadline_misses"] + 3) / 200)
    s = p["latency_ms"]
    assert s["count"] == 197
    assert s["p50"] <= s["p90"] <= s["p99"] <= s["p999"] <= s["max"]
    assert s["max"] == pytest.approx(max(kept), abs=1e-6)
    assert report["planner"]["replies"] == {"duplicates": 1, "unmatched": 2, "wrong_target": 0}
    f = report["floor"]["steady"]
    assert f["sent"] == f["received"] == 50 and f["deadline_misses"] == 0
    assert report["ratio_to_floor"]["p50"] == pytest.approx(s["p50"] / f["latency_ms"]["p50"])
    assert report["targets"]["nothing_dropped"] is False
    assert report["targets"]["p99_within_deadline"] is (s["p99"] <= 5.0)
    json.loads(to_json(public(report)))   # strict JSON (no NaN)
    assert "planner (steady)" in markdown(report)


def test_analyze_splits_the_round_trip_with_the_planners_own_diagnostics():
    cfg = HilConfig(rate_hz=50.0, count=100, floor_count=100, warmup=0)
    ticks = make_schedule(cfg)
    rec = synthetic_record(cfg, np.where([t.target == "planner" for t in ticks], 2.5, 0.6))
    assert "planner_self" not in analyze(rec, cfg)           # no planner_node diagnostics seen
    values = {"scans_total": "130", "latency_p50_ms_total": "1.800", "latency_p99_ms_total": "3.000",
              "latency_max_ms_total": "9.000", "decide_p50_ms_total": "1.300", "decide_p99_ms_total": "2.500",
              "decide_max_ms_total": "8.000", "decisions": "120", "fallbacks": "2"}
    rec.planner_self = values
    report = analyze(rec, cfg)
    ps = report["planner_self"]
    assert ps["scans"] == 130 and ps["callback_ms"] == {"p50": 1.8, "p99": 3.0, "max": 9.0}
    assert ps["decide_ms"]["p50"] == 1.3
    assert ps["round_trip_minus_callback_p50_ms"] == pytest.approx(2.5 - 1.8, abs=1e-6)
    assert ps["floor_p50_ms"] == pytest.approx(0.6, abs=1e-6)
    assert "callback p50 / p99 / max 1.80 / 3.00 / 9.00 ms" in markdown(report)
    assert ps["decisions"] == 120 and report["targets"]["model_decided"] is True
    # Every reply a stop (the goal never arrived): said in the report, and a failed target.
    rec.planner_self = dict(values, decisions="0", decide_p50_ms_total="nan", decide_p99_ms_total="nan",
                            decide_max_ms_total="nan")
    report = analyze(rec, cfg)
    assert report["targets"]["model_decided"] is False and report["targets"]["all_met"] is False
    assert "the planner made no decisions" in markdown(report)
    rec.planner_self = {k: v for k, v in values.items() if not k.startswith("decide")}   # an older node
    assert "planner_self" not in analyze(rec, cfg)


def test_ticks_the_probe_could_not_send_are_skipped_not_dropped():
    cfg = HilConfig(rate_hz=50.0, count=40, floor_count=10, warmup=0)
    ticks = make_schedule(cfg)
    rec = synthetic_record(cfg, np.full(len(ticks), 2.0))
    late = [i for i, t in enumerate(ticks) if t.target == "planner"][5:8]
    rec.send_ns[late] = -1          # as LatencyProbe.run marks ticks it was more than a period late for
    for i in late:                  # nothing can answer a scan that was never sent
        rec.replies["planner"] = [r for r in rec.replies["planner"] if r[0] != rec.stamps[i]]
    report = analyze(rec, cfg)
    assert report["planner"]["steady"]["sent"] == 37 and report["planner"]["steady"]["dropped"] == 0
    assert report["publish"]["skipped"] == {"planner": 3, "floor": 0}


def test_analyze_reports_bursts_separately_and_a_silent_planner_as_all_dropped(tmp_path):
    cfg = HilConfig(rate_hz=50.0, count=60, floor_count=0, warmup=0, burst_size=4, burst_every_s=0.4)
    ticks = make_schedule(cfg)
    silent = set(range(len(ticks)))
    report = analyze(synthetic_record(cfg, np.ones(len(ticks)), drop=silent), cfg)
    p = report["planner"]
    assert p["steady"]["dropped"] == 60 and p["steady"]["received"] == 0
    assert p["burst"]["sent"] == sum(t.kind == "burst" for t in ticks) > 0
    assert p["steady"]["miss_fraction"] == 1.0
    assert "floor" not in report and math.isnan(report["ratio_to_floor"]["p50"])
    assert report["targets"]["all_met"] is False
    outputs = save_outputs(tmp_path, synthetic_record(cfg, np.ones(len(ticks)), drop=silent), report)
    assert all(Path(v).stat().st_size > 0 for v in outputs.values())


# --- MCAP replay ------------------------------------------------------------------------------------

def test_mcap_roundtrip_replays_scans_odometry_and_goal(tmp_path):
    frames = room_frames(30)
    bag = write_mcap(tmp_path / "robot.mcap", frames, scan_topic="/front/scan")
    back = mcap_frames(bag, scan_topic="/front/scan")
    assert len(back) == 30
    for a, b in zip(frames, back):
        assert np.array_equal(a.scan.ranges, b.scan.ranges)      # +inf survives (REP 117 no return)
        assert b.scan.angle_increment == pytest.approx(a.scan.angle_increment)
        assert (b.pose.x, b.pose.y, b.pose.yaw) == pytest.approx((a.pose.x, a.pose.y, a.pose.yaw))
        assert (b.twist.v, b.twist.w) == pytest.approx((a.twist.v, a.twist.w))
        assert (b.goal.x, b.goal.y) == pytest.approx((4.0, 0.0))
    with pytest.raises(SensorError, match="/scan"):
        mcap_frames(bag)                                          # wrong topic: a clear error
    with pytest.raises(PlannerError, match="not found"):
        mcap_frames(tmp_path / "missing.mcap")
    (tmp_path / "junk.mcap").write_bytes(b"not an mcap file")
    with pytest.raises(PlannerError):
        mcap_frames(tmp_path / "junk.mcap")


def test_sim_source_gives_realistic_scans():
    from planner.hil import sim_frames
    frames = sim_frames(12, level=1, rate_hz=50.0)
    assert len(frames) == 12
    # consecutive frames are one probe period apart in simulated time (same episode here)
    assert np.diff([f.scan.stamp for f in frames]) == pytest.approx(np.full(11, 0.02))
    assert all(f.scan.ranges.shape == (720,) for f in frames)
    assert all(math.hypot(f.pose.x - f.goal.x, f.pose.y - f.goal.y) > 1.0 for f in frames)
    r = np.concatenate([f.scan.ranges for f in frames])
    assert np.isfinite(r).any() and np.all(r[np.isfinite(r)] <= 8.0)


# --- a real session ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory):
    from planner.export import export_untrained
    return export_untrained(tmp_path_factory.mktemp("model"), config="mini")


def test_hil_session_against_the_real_planner_node(tmp_path, untrained_model):
    """`planner hil` starts planner_node and echo_node (separate processes, isolated domain), replays an
    MCAP at 50 Hz with bursts, and prints one JSON report that is complete and consistent."""
    bag = write_mcap(tmp_path / "room.mcap", room_frames(60))
    out = tmp_path / "hil"
    deadline = 3.0   # tight, so the miss count is exercised; the figures are not asserted
    proc = subprocess.run(
        [sys.executable, "-m", "planner.cli", "hil", "--json", "--rate", "50", "--count", "150",
         "--floor-count", "60", "--warmup", "10", "--burst", "6@1", "--deadline-ms", str(deadline),
         "--source", f"mcap:{bag}", "--model", str(untrained_model), "--startup-timeout", "60",
         "--out", str(out)], capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)          # exactly one JSON document on stdout
    assert report["processes"] == {"planner": "running", "floor": "running"}

    rows = list(csv.DictReader(open(out / "hil_samples.csv")))
    for target, kind, sent in (("planner", "steady", 150), ("floor", "steady", 60), ("planner", "burst", None)):
        s = report[target][kind]
        mine = [r for r in rows if r["target"] == target and r["kind"] == kind]
        lat = [float(r["latency_ms"]) for r in mine if r["latency_ms"]]
        assert s["sent"] == len(mine)
        if sent is not None:   # a starved probe skips (and reports) ticks rather than sending them late
            assert sent - report["publish"]["skipped"][target] <= s["sent"] <= sent
        assert s["received"] + s["dropped"] == s["sent"] and s["received"] == len(lat)
        assert s["deadline_misses"] == sum(x > deadline for x in lat)
        st = s["latency_ms"]
        if lat:
            assert 0 < st["p50"] <= st["p90"] <= st["p99"] <= st["p999"] <= st["max"] == pytest.approx(max(lat), abs=1e-3)
    assert report["planner"]["steady"]["received"] > 0 and report["floor"]["steady"]["received"] > 0
    assert report["ratio_to_floor"]["p50"] > 0
    ps = report["planner_self"]          # the planner's own timing, from its /diagnostics
    assert ps["scans"] > 0 and ps["decisions"] > 0 and report["targets"]["model_decided"] is True
    for part in ("callback_ms", "decide_ms"):
        assert 0 < ps[part]["p50"] <= ps[part]["p99"] <= ps[part]["max"]
    assert ps["round_trip_minus_callback_p50_ms"] == pytest.approx(
        report["planner"]["steady"]["latency_ms"]["p50"] - ps["callback_ms"]["p50"], abs=1e-9)
    res = report["resources"]["planner"]
    assert res["samples"] > 0 and res["rss_mb"]["max"] > 0 and res["cpu_percent"]["max"] >= 0
    assert set(report["targets"]) >= {"p99_within_deadline", "misses_at_most_0.1pct", "nothing_dropped",
                                      "p50_at_most_1.5x_floor", "all_met"}
    for name in ("hil_report.json", "hil_report.md", "hil_latency.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "hil_latency.png").read_bytes()[:4] == b"\x89PNG"


def test_hil_session_against_a_foreign_planner(tmp_path):
    """--planner-command runs another planner: here echo_node, which takes no goal and publishes none of
    planner_node's diagnostics. The probe goes on after its grace periods and reports the round trip,
    with no planner_self figures and no model_decided target."""
    proc = subprocess.run(
        [sys.executable, "-m", "planner.cli", "hil", "--json", "--rate", "50", "--count", "60",
         "--floor-count", "0", "--warmup", "5", "--planner-command", f"{sys.executable} -m ros_nodes.echo_node",
         "--startup-timeout", "60", "--out", str(tmp_path)], capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    s = report["planner"]["steady"]
    assert s["received"] > 0 and s["received"] + s["dropped"] == s["sent"]
    assert "planner_self" not in report and "model_decided" not in report["targets"]
