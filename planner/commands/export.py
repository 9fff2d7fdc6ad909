"""`planner export`: a checkpoint (or a fresh model) -> fp32 + int8 ONNX graphs and a model card."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from planner.cli import seed_int
from planner.errors import PlannerError

HELP = "Export a trained model to fp32 and int8 ONNX plus a model card."
log = logging.getLogger("planner.export")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="checkpoint written by planner.export.save_checkpoint (NAME.pt)")
    p.add_argument("--out", default="models/weights", help="output directory (default: models/weights)")
    p.add_argument("--name", default=None, help="file name stem (default: the preset name, e.g. mini)")
    p.add_argument("--config", choices=["mini", "seed"], default=None,
                   help="preset for --random-init; with --checkpoint, must match its config if given")
    p.add_argument("--random-init", action="store_true",
                   help="export an untrained, randomly initialised model (tests, latency benchmarks)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for --random-init")
    p.add_argument("--dense", action="store_true", help="export with dense attention (ablation)")
    p.add_argument("--metrics", help="JSON file of evaluation metrics to put in the model card")
    p.add_argument("--force", action="store_true", help="overwrite a trained model already in --out")
    p.add_argument("--json", action="store_true", help="print the model card as one JSON document")


def refuse_to_overwrite_trained(out: str, name: str, force: bool) -> None:
    """`planner export --random-init` with the default --out would silently replace the shipped,
    trained model by an untrained one: overwriting a trained model needs --force."""
    card_path = Path(out) / f"{name}.card.json"
    if force or not card_path.is_file():
        return
    try:
        training = json.loads(card_path.read_text()).get("training")
    except (OSError, ValueError, AttributeError):
        return   # not a readable card: nothing trained to protect
    if training and "untrained" not in str(training):
        raise PlannerError(f"{card_path} is a trained model; choose another --out (or --name), "
                           f"or pass --force to overwrite it")


def run(args: argparse.Namespace) -> int:
    from planner.export import export_model, export_untrained, load_checkpoint
    from planner.report import emit, format_table
    if bool(args.checkpoint) == bool(args.random_init):
        raise PlannerError("give exactly one of --checkpoint FILE or --random-init")
    metrics = None
    if args.metrics:
        try:
            metrics = json.loads(Path(args.metrics).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise PlannerError(f"--metrics {args.metrics}: {exc}") from None
    sparse = False if args.dense else None
    if args.random_init:
        preset = args.config or "mini"
        refuse_to_overwrite_trained(args.out, args.name or preset, args.force)
        card_path = export_untrained(args.out, preset, seed=args.seed, name=args.name, sparse=sparse)
    else:
        from models.minireasoner import PRESETS
        from planner.sensing import SensingConfig
        from planner.config import from_dict
        model, meta = load_checkpoint(args.checkpoint)
        preset = next((n for n, f in PRESETS.items()
                       if dataclasses.replace(f(), sparse=model.cfg.sparse) == model.cfg), None)
        if args.config and args.config != preset:
            raise PlannerError(f"--config {args.config} but the checkpoint's config is "
                               f"{preset or 'custom'}")
        sensing = from_dict(SensingConfig, meta.get("sensing") or {})
        refuse_to_overwrite_trained(args.out, args.name or preset or "model", args.force)
        card_path = export_model(model, args.out, name=args.name or preset or "model", sensing=sensing,
                                 training=meta.get("training") or None,
                                 metrics=metrics or meta.get("metrics") or None, preset=preset, sparse=sparse)
    card = json.loads(Path(card_path).read_text())
    rows = [[k, e["path"], e["bytes"], e["sha256"][:16]] for k, e in
            [("torch", card["files"]["torch"])] + [(f"{b}/{part}", e) for b in ("onnx-fp32", "onnx-int8")
                                                   for part, e in card["files"][b].items()]]
    table = (f"model card: {card_path}\nparams: {card['params']}  preset: {card['preset']}  "
             f"sparse: {card['config']['sparse']}\n" + format_table(rows, ["file", "path", "bytes", "sha256"]))
    emit({"card_path": str(card_path), **card}, table, args.json)
    return 0
