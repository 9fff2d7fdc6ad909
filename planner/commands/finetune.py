"""`planner finetune`."""
from __future__ import annotations

import argparse

HELP = "Adapt the shipped model to your own maps from expert-labelled examples."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maps", required=True, help="comma-separated ROS map_server YAML files (a.yaml,b.yaml)")
    p.add_argument("--model", default="models/weights/mini.pt", help="trained model to start from: a checkpoint (.pt) or a model card (.card.json)")
    p.add_argument("--out", default="runs/finetune", help="directory for the fine-tuned model (pt, ONNX, card)")
    p.add_argument("--samples", type=int, default=None, help="expert-labelled examples (default: config)")
    p.add_argument("--epochs", type=int, default=None, help="passes over them (default: config)")
    p.add_argument("--budget", default="default", help="config/train.yaml budget section")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    import torch

    from planner.errors import PlannerError
    from planner.export import export_model
    from planner.report import emit, format_table
    from planner.training.config import load_train_config
    from planner.training.finetune import finetune
    from planner.training.modelio import load_model

    maps = [m.strip() for m in args.maps.split(",") if m.strip()]
    if not maps:
        raise PlannerError("--maps needs at least one map YAML")
    for m in maps:
        if not Path(m).is_file():
            raise PlannerError(f"map file not found: {m}")
    cfg = load_train_config(args.budget, seed=args.seed)
    overrides = {k: v for k, v in (("samples", args.samples), ("epochs", args.epochs)) if v is not None}
    if any(v <= 0 for v in overrides.values()):
        raise PlannerError("--samples and --epochs must be positive")
    cfg = dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, **overrides))
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    model = load_model(Path(args.model))
    result = finetune(model, maps, cfg)
    card = export_model(model, args.out, name="mini", training={
        "data": f"fine-tuned from {args.model} on {', '.join(maps)} ({result['samples']} expert-labelled "
                "examples, planner finetune)", "finetune": {k: v for k, v in result.items() if k != "final_train_stats"}},
        metrics={"finetune_before": result["before"], "finetune_after": result["after"]})
    result["model_card"] = str(card)
    rows = [[k, result["before"][k], result["after"].get(k, float("nan"))] for k in result["before"]]
    table = format_table(rows, ["map", "success before", "success after"])
    table += (f"\n\n{result['samples']} expert-labelled examples ({result['map_samples']} on your maps), "
              f"{result['wall_s']:.0f} s; fine-tuned model: {card}")
    emit(result, table, args.json)
    return 0
