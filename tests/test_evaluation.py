"""The evaluation entry point and `planner eval`: real episodes, real files, clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner.errors import ConfigError, PlannerError
from planner.evaluation import PLANNERS, evaluate, make_planner
from sim.metrics import barn_score, spl

DATA = Path(__file__).parent / "data"


def test_barn_score_and_spl_formulas():
    assert barn_score(True, 1.0, 1.0) == 0.5            # faster than 2 x opt_time is clipped: max 0.5
    assert barn_score(True, 4.0, 1.0) == 0.25
    assert barn_score(True, 100.0, 1.0) == 0.125        # slower than 8 x opt_time is clipped too
    assert barn_score(False, 4.0, 1.0) == 0.0
    assert spl(True, 12.0, 10.0) == pytest.approx(10 / 12) and spl(False, 10.0, 10.0) == 0.0


def test_evaluate_writes_json_markdown_and_png(tmp_path):
    res = evaluate("nav", planners=["expert"], episodes=1, levels=[0, 2], out_dir=tmp_path)
    lv = res["planners"]["expert"]["levels"]
    assert set(lv) == {"0", "2"} and lv["0"]["summary"]["success"] == 1.0
    ep = lv["2"]["episodes"][0]
    for key in ("success", "collision", "timeout", "out_of_road", "time", "path_length", "spl", "barn_score",
                "min_clearance", "mean_abs_jerk", "decision_ms_p50"):
        assert key in ep
    data = json.loads((tmp_path / "eval_nav.json").read_text())
    assert data["split"] == "test" and data["planners"]["expert"]["overall"]["episodes"] == 2
    assert data["guidance"] == "path"
    assert "| expert" in (tmp_path / "eval_nav.md").read_text()
    assert (tmp_path / "eval_nav_success.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "eval_nav_trajectories.png").read_bytes()[:4] == b"\x89PNG"
    assert "trail" not in ep     # trails go to the plot, not into the JSON


def test_unknown_planner_level_and_missing_model_are_clear_errors(tmp_path):
    assert {"expert", "dwa", "minireasoner", "minireasoner-noverify", "minireasoner-dense", "minireasoner-fp32",
            "sb3-mlp"} <= set(PLANNERS)
    with pytest.raises(ConfigError, match="unknown planner"):
        make_planner("nope", "jackal")
    with pytest.raises(ConfigError, match="levels"):
        evaluate("nav", planners=["expert"], episodes=1, levels=[42])
    with pytest.raises(ConfigError, match="guidance"):
        evaluate("nav", planners=["expert"], episodes=1, guidance="gps")
    with pytest.raises(PlannerError):
        make_planner("minireasoner", "jackal", {"model": str(tmp_path / "missing.card.json")})


def test_cli_eval_on_a_ros_map_prints_one_json_document(tmp_path):
    cmd = [sys.executable, "-m", "planner.cli", "eval", "--map", str(DATA / "small_map.yaml"), "--start", "1.0,1.0,0",
           "--goal", "6.5,4.5", "--planner", "expert", "--episodes", "1", "--out", str(tmp_path), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["planners"]["expert"]["overall"]["success"] == 1.0 and doc["split"] == "map"
    goal_only = subprocess.run(cmd + ["--guidance", "goal"], capture_output=True, text=True, timeout=120)
    assert goal_only.returncode == 0 and json.loads(goal_only.stdout)["guidance"] == "goal"
    bad = subprocess.run(cmd[:3] + [str(tmp_path / "nope.yaml")] + cmd[4:], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "error" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_bench_sim_prints_one_json_document():
    cmd = [sys.executable, "-m", "planner.cli", "bench", "sim", "--steps", "100", "--level", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["steps_per_s"] > 0 and doc["beams"] == 64
    assert {d["policy"] for d in doc["drivers"]} == {"expert", "random"}
    assert "lidar_rayTestBatch" in doc["breakdown_us"]


def test_eval_deadline_reaches_the_runtime_and_is_recorded(tmp_path):
    res = evaluate("nav", planners=["minireasoner"], episodes=1, levels=[0], out_dir=tmp_path,
                   options={"deadline_ms": 250.0})
    assert res["deadline_ms"] == 250.0 and res["planners"]["minireasoner"]["overall"]["episodes"] == 1
    assert make_planner("minireasoner", "jackal").planner.cfg.deadline_ms == 10.0    # the runtime's default
    with pytest.raises(ConfigError, match="deadline_ms"):
        make_planner("minireasoner", "jackal", {"deadline_ms": -1.0})
    assert json.loads((tmp_path / "eval_nav.json").read_text())["deadline_ms"] == 250.0


def test_merge_eval_joins_planners_run_apart_and_refuses_mismatches(tmp_path):
    from planner.training.merge_eval import merge
    a = evaluate("nav", planners=["expert"], episodes=1, levels=[0], out_dir=tmp_path / "a")
    evaluate("nav", planners=["dwa"], episodes=1, levels=[0], out_dir=tmp_path / "b")
    merged = merge([str(tmp_path / "a" / "eval_nav.json"), str(tmp_path / "b" / "eval_nav.json")])
    assert set(merged["planners"]) == {"expert", "dwa"}
    assert merged["planners"]["expert"]["overall"] == a["planners"]["expert"]["overall"]
    assert "| expert" in merged["table"] and "| dwa" in merged["table"]
    evaluate("nav", planners=["dwa"], episodes=1, levels=[1], out_dir=tmp_path / "c")
    with pytest.raises(SystemExit, match="suite/levels differ"):
        merge([str(tmp_path / "a" / "eval_nav.json"), str(tmp_path / "c" / "eval_nav.json")])
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(SystemExit, match="not a `planner eval` result"):
        merge([str(tmp_path / "bad.json")])
    cli = subprocess.run([sys.executable, "-m", "planner.training.merge_eval"], capture_output=True, text=True)
    assert cli.returncode == 2 and "required" in cli.stderr
