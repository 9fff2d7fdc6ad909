"""`planner sim-demo` end to end: a real episode, a real PNG, one JSON document, clear errors."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from planner.cli import main

DATA = Path(__file__).parent / "data"


def run_cli(capsys, *argv):
    code = main(["sim-demo", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_png(path: Path, min_size=(400, 300)):
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape[1] >= min_size[0] and img.shape[0] >= min_size[1]
    # Not blank: obstacles (dark grey), the path and lidar (colours) are drawn.
    assert (img.std(axis=2) > 30).mean() > 0.002 and (img.mean(axis=2) < 120).mean() > 0.005


def test_nav_expert_episode_json_and_png(tmp_path, capsys):
    png = tmp_path / "nav.png"
    code, out, _ = run_cli(capsys, "--env", "nav", "--level", "1", "--seed", "2000001", "--planner", "expert",
                           "--out", str(png), "--json")
    assert code == 0
    result = json.loads(out)                      # exactly one JSON document on stdout
    assert result["outcome"] == "success" and result["metrics"]["success"] is True
    assert result["level"] == 1 and result["seed"] == 2000001 and result["png"] == str(png)
    assert 0 < result["metrics"]["spl"] <= 1
    check_png(png)


def test_drive_dwa_table(tmp_path, capsys):
    png = tmp_path / "drive.png"
    code, out, _ = run_cli(capsys, "--env", "drive", "--level", "0", "--planner", "dwa", "--out", str(png),
                           "--max-steps", "200")
    assert code == 0 and "| outcome" in out and str(png) in out
    check_png(png)


def test_on_a_ros_map(tmp_path, capsys):
    png = tmp_path / "map.png"
    code, out, _ = run_cli(capsys, "--map", str(DATA / "small_map.yaml"), "--start", "1,1,0", "--goal", "6.5,4.5",
                           "--planner", "expert", "--out", str(png), "--json")
    assert code == 0
    assert json.loads(out)["outcome"] == "success"
    check_png(png)


@pytest.mark.parametrize("argv, needle", [
    (["--env", "nav", "--level", "9"], "level"),
    (["--env", "drive", "--level", "7"], "level"),
    (["--map", str(DATA / "small_map.yaml"), "--start", "2,4,0", "--goal", "6.5,4.5"], "inside or too close"),
    (["--map", str(DATA / "missing.yaml"), "--start", "1,1,0", "--goal", "6,4"], "map file not found"),
    (["--map", str(DATA / "small_map.yaml")], "--start"),
])
def test_bad_input_is_one_clear_line(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = [l for l in err.splitlines() if l.startswith("planner sim-demo: error")]
    assert len(lines) == 1 and needle in lines[0]
