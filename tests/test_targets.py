"""Issue 5's targets on eval results: Wilson intervals, paired comparisons, verdicts, the merged report."""
import json
import subprocess
import sys

import numpy as np
import pytest

from planner.targets import check_targets, paired_bootstrap, targets_json, wilson

LEVELS = [0, 1, 2, 3, 4, 5]
N = 50


def _planner(fails: dict[int, list[tuple[int, str]]], seeds_from: int = 2_000_000) -> dict:
    """Episodes on every level; fails: level -> [(episode index, outcome)], all others successes."""
    levels = {}
    for lv in LEVELS:
        bad = dict(fails.get(lv, []))
        eps = []
        for i in range(N):
            outcome = bad.get(i, "success")
            eps.append({"seed": seeds_from + i, "level": lv, "outcome": outcome,
                        **{k: outcome == k for k in ("success", "collision", "timeout", "out_of_road")}})
        levels[str(lv)] = {"summary": {"success": np.mean([e["success"] for e in eps])}, "episodes": eps}
    return {"levels": levels}


def _nav_result(**planners) -> dict:
    return {"suite": "nav", "split": "test", "levels": LEVELS, "planners": planners}


def _rows(result: dict) -> dict[str, dict]:
    return {r["target"].split(" (")[0]: r for r in targets_json(check_targets(result))}


def test_wilson_interval_matches_the_textbook_values():
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert all(np.isnan(wilson(0, 0)))


def test_paired_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    pairs = [(rng.random(50) < 0.9, rng.random(50) < 0.8) for _ in range(3)]
    pairs = [(a.astype(float), b.astype(float)) for a, b in pairs]
    first = paired_bootstrap(pairs, lambda a, b: a - b)
    assert first == paired_bootstrap(pairs, lambda a, b: a - b)
    value, low, high = first
    assert low < value < high
    same = [(a, a.copy()) for a, _ in pairs]       # a planner against itself: no difference at all
    assert paired_bootstrap(same, lambda a, b: a - b) == (0.0, 0.0, 0.0)


def test_nav_targets_verdicts_on_a_known_result():
    # the model: 11 collisions and 3 timeouts in 300 (session 12's TEST counts), spread over levels 2-5
    model_fails = {2: [(0, "collision")], 3: [(1, "collision"), (2, "collision")],
                   4: [(i, "collision") for i in range(5)] + [(5, "timeout"), (6, "timeout")],
                   5: [(0, "collision"), (1, "collision"), (2, "collision"), (3, "timeout")]}
    result = _nav_result(
        minireasoner=_planner(model_fails),
        **{"minireasoner-fp32": _planner(model_fails),
           "minireasoner-dense": _planner({lv: [(i, "timeout") for i in range(10)] for lv in (4, 5)}),
           "sb3-mlp": _planner({lv: [(i, "collision") for i in range(40)] for lv in (4, 5)})},
        expert=_planner({}),
        dwa=_planner({lv: [(i, "timeout") for i in range(20)] for lv in (3, 4, 5)}))
    rows = _rows(result)
    assert rows["success >= 0.95"]["value"] == pytest.approx(286 / 300)
    assert rows["success >= 0.95"]["verdict"] == "met (within noise)"
    assert rows["collision <= 0.02"]["value"] == pytest.approx(11 / 300)
    assert rows["collision <= 0.02"]["verdict"] == "NOT met"          # Wilson low 0.0206 > 0.02
    assert rows["episodes >= 300"]["met"]
    assert rows["success / expert's >= 0.97"]["value"] == pytest.approx(286 / 300)
    assert not rows["success / expert's >= 0.97"]["met"]
    assert rows["success - SB3 MLP's >= 0.15 on level 5"]["verdict"] == "met"
    assert not any("SB3" in t and "level 3" in t for t in rows)     # SB3: only the two hardest levels
    assert rows["success above DWA's on level 0"]["note"] == "both 1.0: tied at the ceiling"
    assert rows["success above DWA's on level 2"]["value"] == pytest.approx(-0.02)
    assert not rows["success above DWA's on level 2"]["met"]
    assert rows["success above DWA's on level 4"]["verdict"] == "met"
    assert rows["success / dense model's >= 0.98"]["value"] == pytest.approx(286 / 280)
    int8 = rows["|success - fp32's| <= 0.01"]
    assert int8["value"] == 0 and int8["verdict"] == "met"           # identical episodes: no difference
    # fp32 losing 20 more episodes: the target (within 1 point) is missed beyond noise, int8 being the better
    worse_fp32 = _planner({lv: [(i, "timeout") for i in range(10, 20)] + model_fails.get(lv, []) for lv in (4, 5)})
    far = _rows(dict(result, planners=dict(result["planners"], **{"minireasoner-fp32": worse_fp32})))
    far_int8 = far["|success - fp32's| <= 0.01"]
    assert far_int8["verdict"] == "NOT met" and far_int8["note"] == "int8 minus fp32; int8 better"


def test_targets_skip_what_cannot_be_checked_and_refuse_unpaired_worlds():
    assert check_targets({"suite": "nav", "split": "map", "levels": [-1], "planners": {}}) == []
    model = _planner({})
    summary_only = {"levels": {lv: {"summary": x["summary"]} for lv, x in model["levels"].items()}}
    assert check_targets(_nav_result(minireasoner=summary_only, expert=summary_only)) == []
    rows = _rows(_nav_result(minireasoner=model, expert=_planner({}, seeds_from=3_000_000)))
    assert "not comparable" in rows["success / expert's >= 0.97"]["note"]
    assert not rows["success / expert's >= 0.97"]["met"]


def test_merge_eval_writes_the_targets_beside_the_table(tmp_path):
    drive_levels = [0, 1]
    crash = _planner({0: [(0, "collision")]})
    mr = {"suite": "drive", "split": "test", "levels": drive_levels, "episodes_per_level": N,
          "planners": {"minireasoner": {"levels": {k: v for k, v in crash["levels"].items() if k in ("0", "1")}}}}
    fp32 = dict(mr, planners={"minireasoner-fp32": {"levels": {k: v for k, v in _planner({})["levels"].items()
                                                                if k in ("0", "1")}}})
    for name, r in (("a", mr), ("b", fp32)):
        for e in r["planners"].values():
            e["overall"] = {}
            for lv in e["levels"].values():
                lv["summary"] = {k: float(np.mean([x[k] for x in lv["episodes"]]))
                                 for k in ("success", "collision", "timeout", "out_of_road")}
                lv["summary"]["episodes"] = N
        (tmp_path / f"{name}.json").write_text(json.dumps(r))
    out = subprocess.run([sys.executable, "-m", "planner.training.merge_eval", str(tmp_path / "m"),
                          str(tmp_path / "a.json"), str(tmp_path / "b.json")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "m" / "eval_drive.md").read_text()
    assert "## Targets" in md and "crash <= 0.03 (1 of 100)" in md
    doc = json.loads((tmp_path / "m" / "eval_drive.json").read_text())
    rows = {r["target"]: r for r in doc["targets"]}
    assert rows["|success - fp32's| <= 0.01"]["value"] == pytest.approx(-0.01)
    assert rows["success >= 0.9 (99 of 100)"]["verdict"] == "met"
    assert "crash" in out.stdout
