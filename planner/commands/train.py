"""`planner train`."""
from __future__ import annotations

import argparse
import shlex
import sys

HELP = "Run the staged curriculum (imitation -> PPO -> curriculum fine-tuning); resumable."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default="default", help="budget section of the config: default | smoke")
    p.add_argument("--config", default=None, help="training config YAML (default: config/train.yaml)")
    p.add_argument("--out", default="runs/train", help="run directory (checkpoints, logs, final model)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoints")
    p.add_argument("--seed", type=int, default=None, help="global seed (overrides the config)")
    p.add_argument("--stages", default="imitation,rl,curriculum",
                   help="comma-separated stages to run: imitation,rl,curriculum[,baseline]")
    p.add_argument("--no-export", action="store_true", help="skip exporting the final model")
    p.add_argument("--ship", default=None, metavar="DIR",
                   help="also copy the exported model (and the SB3 baseline) into DIR, e.g. models/weights")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from planner.report import emit, format_table
    from planner.training.config import DEFAULT_CONFIG, load_train_config
    from planner.training.pipeline import Pipeline

    cfg = load_train_config(args.budget, args.config or DEFAULT_CONFIG, seed=args.seed)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    pipeline = Pipeline(cfg, args.out, resume=args.resume)
    pipeline.state.setdefault("commands", []).append("planner " + shlex.join(sys.argv[1:]))
    pipeline.state["command"] = pipeline.state["commands"][0]
    pipeline.state["budget"] = args.budget
    state = pipeline.run(stages)
    state.pop("export", None)                  # only report an export made by this invocation
    if not args.no_export:
        state["export"] = pipeline.export(args.ship)
    rows = []
    for name, s in state["stages"].items():
        rows.append([name, s.get("env_steps", 0), round(s.get("wall_s", 0.0)), s.get("val_success", float("nan"))])
    table = format_table(rows, ["stage", "env steps", "wall s", "val success"])
    for name, s in state["stages"].items():
        by = s.get("val", {}).get("by_level", {})
        if by:
            table += f"\n\n{name}: validation success by level\n" + format_table(
                [[k, v["episodes"], v["success"], v["collision"]] for k, v in by.items()],
                ["family/level", "episodes", "success", "collision"])
    if state.get("export"):
        table += f"\n\nexported ({state['export']['stage']}): " + ", ".join(state["export"]["files"])
    emit(state, table, args.json)
    return 0
