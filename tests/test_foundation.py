"""Package layout, CLI behaviour and the packaging files that colcon and pip both read."""
import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from planner.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_subcommand_has_help(name):
    out = run_cli(name, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: planner" in out.stdout


@pytest.mark.parametrize("args", [["no-such-command"], ["eval", "--no-such-flag"], ["bench", "nothing"],
                                  # negative seeds used to reach numpy/Gymnasium and end in a traceback
                                  ["sim-demo", "--seed", "-1"], ["eval", "--seed", "-1"],
                                  ["bench", "sim", "--seed", "-1"], ["bench", "verifier", "--seed", "x"],
                                  ["export", "--random-init", "--seed", "-1"]])
def test_bad_arguments_give_one_line_error(args):
    out = run_cli(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "error" in out.stderr


def test_packages_are_importable():
    for pkg in ("planner", "models", "sim", "ros_nodes"):
        __import__(pkg)


def test_package_xml_declares_runtime_and_test_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "planner"
    deps = {e.text for e in root.findall("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "nav_msgs", "geometry_msgs", "std_msgs", "diagnostic_msgs",
                "visualization_msgs", "python3-numpy"):
        assert dep in deps
    assert {e.text for e in root.findall("test_depend")} >= {"python3-pytest"}
    assert root.find("export/build_type").text == "ament_python"


def _setup_kwargs() -> dict:
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {kw.arg: kw.value for kw in call.keywords}


def test_setup_installs_ament_files_and_console_scripts():
    text = (ROOT / "setup.py").read_text()
    for needle in ("share/ament_index/resource_index/packages", "resource/", "launch/*.launch.py",
                   "config/*.yaml", "package.xml"):
        assert needle in text
    assert (ROOT / "resource" / "planner").exists()
    scripts = [ast.literal_eval(e) for e in _setup_kwargs()["entry_points"].values[0].elts]
    names = {s.split("=")[0].strip() for s in scripts}
    assert {"planner", "planner_node", "sim_node"} <= names
    for s in scripts:   # every console script points at a real function
        mod, func = s.split("=")[1].strip().split(":")
        module = __import__(mod, fromlist=[func])
        assert callable(getattr(module, func)), s
    cfg = (ROOT / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/planner" in cfg


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_json_output_is_one_document():
    from planner.report import emit, latency_stats
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        emit({"x": float("nan"), "stats": latency_stats([1.0, 2.0, 3.0])}, "table", as_json=True)
    doc = json.loads(buf.getvalue())
    assert doc["x"] is None
    s = doc["stats"]
    assert s["p50"] <= s["p90"] <= s["p99"] <= s["p999"] <= s["max"] == 3.0


@pytest.mark.parametrize("command", [["eval", "--episodes", "1", "--levels", "0"], ["sim-demo", "--max-steps", "5"]])
def test_unusable_out_path_is_one_line_error_before_any_work(tmp_path, command):
    """An --out that cannot be created (here: below a regular file) used to end in a traceback after the run."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out_arg = str(blocker / "x.png") if command[0] == "sim-demo" else str(blocker)
    out = run_cli(*command, "--out", out_arg)
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"planner {command[0]}: error:") and str(blocker) in last
    assert "success" not in out.stderr   # no episode ran first


def test_progress_logs_periodically_and_once_at_the_total_even_when_work_overshoots_it(caplog):
    import logging

    from planner.report import Progress
    clock = iter(range(0, 1000)).__next__           # one second per update
    with caplog.at_level(logging.INFO, logger="planner"):
        with Progress(10, "job", every_s=5.0) as bar:
            bar._time = lambda: float(clock())
            bar._bar = None                       # the log-line path (CI, files), whatever stderr is
            for _ in range(30):                   # 20 updates past the total, like PPO's last rollout
                bar.update(1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job:")]
    assert any(line.startswith("job: 10/10 ") for line in lines)
    assert len(lines) <= 7                        # every 5 s over 30 s plus the one at 10/10, not 20 more
