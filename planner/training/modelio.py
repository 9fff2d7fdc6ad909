"""Build MiniReasoner for training; checkpoints go through planner.export (weights_only, card-checked)."""
from __future__ import annotations

from pathlib import Path

import torch

from planner.errors import ModelLoadError


def build_model(preset: str | dict) -> torch.nn.Module:
    """A fresh MiniReasoner from a preset name ('mini', 'seed') or a config dict (cfg.to_dict())."""
    from planner.config import from_dict
    from models.minireasoner import PRESETS, MiniReasoner, MiniReasonerConfig
    if isinstance(preset, dict):
        return MiniReasoner(from_dict(MiniReasonerConfig, preset))
    if preset not in PRESETS:
        raise ModelLoadError(f"unknown model preset '{preset}' (have: {', '.join(sorted(PRESETS))})")
    return MiniReasoner(PRESETS[preset]())


def save_model(model: torch.nn.Module, path: Path, training: dict | None = None,
               metrics: dict | None = None) -> Path:
    from planner.export import save_checkpoint
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_checkpoint(model, tmp, training=training, metrics=metrics)
    tmp.replace(path)
    return path


def load_model(path: Path) -> torch.nn.Module:
    """A trained MiniReasoner from a checkpoint (.pt) or, as the other commands take it, a model card
    (or a model directory / ONNX file beside one): then the card's torch file, hash-checked."""
    from planner.export import checked_file, load_card, load_checkpoint
    path = Path(path)
    if path.suffix != ".pt":
        card, directory = load_card(path)
        if "torch" not in card["files"]:
            raise ModelLoadError(f"{path}: the model card lists no PyTorch weights to fine-tune")
        path = checked_file(card, directory, card["files"]["torch"])
    return load_checkpoint(path)[0]
