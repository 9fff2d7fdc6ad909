"""Merge `planner eval` results of one suite run in separate processes (same TEST seeds, same levels)
into one JSON + markdown table (with issue 5's targets, planner/targets.py) + success PNG:
`python -m planner.training.merge_eval OUT_DIR eval_a.json eval_b.json ...`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def merge(paths: list[str]) -> dict:
    from planner.evaluation import add_targets, markdown_table
    merged: dict | None = None
    for p in paths:
        try:
            r = json.loads(Path(p).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"{p}: cannot read a `planner eval` JSON ({e})") from None
        if not isinstance(r, dict) or not {"suite", "levels", "planners", "episodes_per_level"} <= r.keys():
            raise SystemExit(f"{p}: not a `planner eval` result (needs suite, levels, planners, episodes_per_level)")
        if merged is None:
            merged = dict(r, planners={}, episodes_per_level={})
        if r["suite"] != merged["suite"] or r["levels"] != merged["levels"]:
            raise SystemExit(f"{p}: suite/levels differ from {paths[0]}")
        for name, entry in r["planners"].items():
            merged["planners"][name] = entry
            merged["episodes_per_level"][name] = r["episodes_per_level"]
    merged["table"] = markdown_table(merged)
    merged["merged_from"] = paths
    add_targets(merged)
    return merged


def main() -> None:
    from planner.evaluation import _to_json, plot_success, report_markdown
    from planner.targets import targets_table
    ap = argparse.ArgumentParser(prog="python -m planner.training.merge_eval", description=__doc__.split(":")[0])
    ap.add_argument("out", help="output directory")
    ap.add_argument("results", nargs="+", help="eval_<suite>.json files of `planner eval` runs")
    a = ap.parse_args()
    out, paths = Path(a.out), a.results
    out.mkdir(parents=True, exist_ok=True)
    result = merge(paths)
    stem = f"eval_{result['suite']}"
    (out / f"{stem}.json").write_text(_to_json(result))
    # Summary without the per-episode lists (small enough to commit beside the docs).
    summary = dict(result, planners={n: {"overall": e["overall"], "decision_status": e.get("decision_status"),
                                         "levels": {lv: x["summary"] for lv, x in e["levels"].items()}}
                                     for n, e in result["planners"].items()})
    (out / f"{stem}.summary.json").write_text(_to_json(summary))
    (out / f"{stem}.md").write_text(report_markdown(result, f"{result['suite']} (TEST seeds)"))
    counts = sorted(set(result["episodes_per_level"].values()))
    per_level = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    plot_success(dict(result, episodes_per_level=per_level), out / f"{stem}_success.png")
    print(result["table"])
    if result["targets"]:
        print("\n" + targets_table(result["targets"]))


if __name__ == "__main__":
    main()
