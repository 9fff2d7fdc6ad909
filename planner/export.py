"""Model files: checkpoints, ONNX export (fp32 + int8), the model card, and loading with checks.

A model directory holds, for a model named NAME (default "mini"):
  NAME.pt              PyTorch checkpoint: {"config", "model" (state_dict), "sensing", "training",
                       "metrics"}; plain tensors and types only, loaded with weights_only=True.
  NAME.fp32.onnx       encode + first refinement step: (lidar, state) -> (x, z, logits, path, value,
                       confidence, gate, relevance, keep_index)
  NAME.fp32.step.onnx  one refinement step: (x, z, state) -> (z, logits, path, value, confidence, gate)
  NAME.int8.onnx, NAME.int8.step.onnx   the same, dynamically quantized to int8
  NAME.card.json       config, parameter count, sensing config, training data, metrics, sha256 of
                       every file above. Loading goes through the card: a missing, truncated, corrupt
                       or mismatched file raises ModelLoadError with the reason.

Recursion is two graphs and a Python loop in the runtime (not an ONNX Loop) so that the runtime can
check its deadline between steps and stop early on confidence; one ORT call costs tens of
microseconds, and a confident input needs only the first graph.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from planner.errors import ModelLoadError
from planner.sensing import STATE_FIELDS, SensingConfig
from planner.vehicles import NUM_PRIMITIVES

log = logging.getLogger("planner.export")

CARD_FORMAT = "minireasoner-card/1"
OPSET = 17
# Settings that keep int8 accurate on CPUs without VNNI (NOTES.md: max output error 0.30-0.39 with
# the defaults, ~0.015 with these): per-channel weight scales, 7-bit weight range.
QUANT_SETTINGS = {"per_channel": True, "reduce_range": True, "weight_type": "QInt8"}
# Only the reasoning layers' attention and modules are quantized (nearly all of the weights). The
# encoder (tokenizer, perceive layer, relevance scorer) runs once per decision and stays fp32, so the
# kept-token set is exactly fp32's (quantized, 27% of validation inputs kept a different set: untrained
# mini, measured here); the gates and heads are tiny and make the discrete choices, so they stay fp32.
QUANTIZED_SCOPES = ("/reason.",)
FP32_SCOPES = ("/gate/",)
FIRST_INPUTS = ["lidar", "state"]
FIRST_OUTPUTS = ["x", "z", "logits", "path", "value", "confidence", "gate", "relevance", "keep_index"]
STEP_INPUTS = ["x", "z", "state"]
STEP_OUTPUTS = ["z_next", "logits", "path", "value", "confidence", "gate"]
BACKEND_FILES = {"onnx-fp32": ("fp32", "fp32.step"), "onnx-int8": ("int8", "int8.step")}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(model, path: str | Path, *, sensing: SensingConfig = SensingConfig(),
                    training: dict | None = None, metrics: dict | None = None) -> Path:
    """Save a MiniReasoner as plain tensors + JSON-able metadata (loadable with weights_only=True)."""
    import torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.cfg.to_dict(), "model": model.state_dict(),
                "sensing": dataclasses.asdict(sensing), "training": training or {},
                "metrics": metrics or {}}, path)
    return path


def load_checkpoint(path: str | Path):
    """Returns (MiniReasoner in eval mode, metadata dict). Never unpickles arbitrary objects."""
    import torch
    from planner.config import from_dict
    from models.minireasoner import MiniReasoner, MiniReasonerConfig
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code in it, not a torch file...
        raise ModelLoadError(f"{path}: not a loadable checkpoint ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]})") from None
    if not isinstance(ckpt, dict) or not {"config", "model"} <= set(ckpt):
        raise ModelLoadError(f"{path}: not a MiniReasoner checkpoint (needs 'config' and 'model'; "
                             "save it with planner.export.save_checkpoint)")
    try:
        cfg = from_dict(MiniReasonerConfig, ckpt["config"])
        model = MiniReasoner(cfg)
        model.load_state_dict(ckpt["model"])
    except Exception as exc:
        raise ModelLoadError(f"{path}: weights do not match the config in the checkpoint ({exc})"
                             .splitlines()[0][:300]) from None
    model.eval()
    meta = {k: ckpt.get(k, {}) for k in ("sensing", "training", "metrics")}
    return model, meta


# ----------------------------------------------------------------------------------------------
# ONNX export


def export_onnx(model, first_path: Path, step_path: Path, sparse: bool | None = None) -> None:
    """Trace the two inference graphs to ONNX (TorchScript exporter, opset 17, dynamic batch)."""
    import warnings

    import torch
    from models.minireasoner import FirstStepGraph, StepGraph
    cfg = model.cfg
    sparse = cfg.sparse if sparse is None else sparse
    model = model.eval()
    lidar = torch.rand(1, cfg.num_sectors)
    state = torch.zeros(1, len(STATE_FIELDS))
    with torch.no_grad():
        x, _, _ = model.encode(lidar, state, sparse)
        z = model.init_latent(x)
    batch = {"lidar": {0: "batch"}, "state": {0: "batch"}, "x": {0: "batch"}, "z": {0: "batch"},
             "z_next": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(FirstStepGraph(model, sparse), (lidar, state), str(first_path), dynamo=False,
                          opset_version=OPSET, input_names=FIRST_INPUTS, output_names=FIRST_OUTPUTS,
                          dynamic_axes={k: v for k, v in batch.items() if k in FIRST_INPUTS + FIRST_OUTPUTS})
        torch.onnx.export(StepGraph(model), (x, z, state), str(step_path), dynamo=False,
                          opset_version=OPSET, input_names=STEP_INPUTS, output_names=STEP_OUTPUTS,
                          dynamic_axes={k: v for k, v in batch.items() if k in STEP_INPUTS + STEP_OUTPUTS})


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 quantization (weights int8 per channel, activations quantized at run time)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    keep_fp32 = [n.name for n in onnx.load(str(fp32_path)).graph.node
                 if not any(n.name.startswith(s) for s in QUANTIZED_SCOPES)
                 or any(s in n.name for s in FP32_SCOPES)]
    keep_fp32 += [f"{name}_MatMul" for name in keep_fp32]   # the quantizer renames Gemm -> MatMul
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs every tensor it skips on the root logger
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), per_channel=QUANT_SETTINGS["per_channel"],
                         reduce_range=QUANT_SETTINGS["reduce_range"], weight_type=QuantType.QInt8,
                         nodes_to_exclude=keep_fp32)
    finally:
        root.setLevel(level)


def export_model(model, out_dir: str | Path, *, name: str = "mini",
                 sensing: SensingConfig = SensingConfig(), training: dict | None = None,
                 metrics: dict | None = None, preset: str | None = None,
                 sparse: bool | None = None) -> Path:
    """Write NAME.pt, fp32 + int8 ONNX graphs and NAME.card.json into out_dir; returns the card path."""
    import onnxruntime
    import torch
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if sparse is not None and sparse != model.cfg.sparse:
        # The attention mode is part of the exported graphs and of the card: export a copy so the
        # caller's model keeps its own config.
        import copy
        model = copy.deepcopy(model)
        model.cfg = dataclasses.replace(model.cfg, sparse=sparse)
    cfg = model.cfg
    files: dict[str, Any] = {"torch": save_checkpoint(model, out_dir / f"{name}.pt", sensing=sensing,
                                                      training=training, metrics=metrics)}
    fp32 = {"first": out_dir / f"{name}.fp32.onnx", "step": out_dir / f"{name}.fp32.step.onnx"}
    int8 = {"first": out_dir / f"{name}.int8.onnx", "step": out_dir / f"{name}.int8.step.onnx"}
    log.info("exporting %s (%d params) to %s", name, model.num_params(), out_dir)
    export_onnx(model, fp32["first"], fp32["step"])
    for part in ("first", "step"):
        quantize_int8(fp32[part], int8[part])
    files["onnx-fp32"], files["onnx-int8"] = fp32, int8

    def entry(p: Path) -> dict:
        return {"path": p.name, "sha256": sha256_of(p), "bytes": p.stat().st_size}
    card = {
        "format": CARD_FORMAT,
        "name": name,
        "preset": preset,
        "config": cfg.to_dict(),
        "params": model.num_params(),
        "num_primitives": NUM_PRIMITIVES,
        "state_fields": list(STATE_FIELDS),
        "sensing": dataclasses.asdict(sensing),
        "training": training or {"data": "none: random initialisation (untrained)"},
        "metrics": metrics or {},
        "quantization": {"method": "onnxruntime.quantization.quantize_dynamic", **QUANT_SETTINGS,
                         "quantized_scopes": list(QUANTIZED_SCOPES), "fp32_scopes": list(FP32_SCOPES)},
        "onnx": {"opset": OPSET, "first": {"inputs": FIRST_INPUTS, "outputs": FIRST_OUTPUTS},
                 "step": {"inputs": STEP_INPUTS, "outputs": STEP_OUTPUTS}},
        "files": {"torch": entry(files["torch"]),
                  "onnx-fp32": {k: entry(v) for k, v in fp32.items()},
                  "onnx-int8": {k: entry(v) for k, v in int8.items()}},
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
    }
    card_path = out_dir / f"{name}.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path


def export_untrained(out_dir: str | Path, config: str = "mini", *, seed: int = 0,
                     name: str | None = None, sparse: bool | None = None) -> Path:
    """A loadable, untrained model directory (for tests and fixtures). Returns the card path:
    `Planner(RuntimeConfig(model_path=str(export_untrained(tmp_path))))`."""
    import torch
    from models.minireasoner import PRESETS, MiniReasoner
    if config not in PRESETS:
        raise ModelLoadError(f"unknown model config {config!r}; choose from {sorted(PRESETS)}")
    torch.manual_seed(seed)
    model = MiniReasoner(PRESETS[config]())
    return export_model(model, out_dir, name=name or config, preset=config, sparse=sparse,
                        training={"data": f"none: random initialisation (seed {seed}), untrained"})


# ----------------------------------------------------------------------------------------------
# Loading (card first, then hashes)


def resolve_card_path(model_path: str | Path) -> Path:
    """model_path may be the card, a model file next to it, or a directory with exactly one card."""
    p = Path(model_path)
    if p.is_dir():
        cards = sorted(p.glob("*.card.json"))
        if len(cards) != 1:
            raise ModelLoadError(f"{p}: expected one *.card.json, found {len(cards)}")
        return cards[0]
    if p.name.endswith(".card.json"):
        return p
    stem = p.name.split(".")[0]
    return p.with_name(f"{stem}.card.json")


def load_card(model_path: str | Path) -> tuple[dict, Path]:
    """Read and sanity-check the model card. Returns (card, directory)."""
    card_path = resolve_card_path(model_path)
    if not card_path.is_file() and not card_path.is_absolute():
        # The default "models/weights/mini.card.json" also works outside the repository root.
        installed = Path(__file__).resolve().parent.parent / card_path
        card_path = installed if installed.is_file() else card_path
    if not card_path.is_file():
        raise ModelLoadError(f"model card not found: {card_path} (export a model with `planner export`)")
    try:
        card = json.loads(card_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{card_path}: model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelLoadError(f"{card_path}: not a MiniReasoner model card (format "
                             f"{card.get('format') if isinstance(card, dict) else None!r}, "
                             f"expected {CARD_FORMAT!r})")
    for key in ("config", "files", "sensing"):
        if key not in card:
            raise ModelLoadError(f"{card_path}: model card has no '{key}'")
    if card.get("num_primitives") != NUM_PRIMITIVES:
        raise ModelLoadError(f"{card_path}: model has {card.get('num_primitives')} primitives, this "
                             f"planner has {NUM_PRIMITIVES}")
    if card.get("state_fields") != list(STATE_FIELDS):
        raise ModelLoadError(f"{card_path}: model was trained on a different state layout")
    return card, card_path.parent


def checked_file(card: dict, directory: Path, entry: dict) -> Path:
    """The file an entry of the card names, after checking its size and sha256."""
    if not isinstance(entry, dict) or not {"path", "sha256", "bytes"} <= set(entry):
        raise ModelLoadError(f"model card file entry malformed: {entry!r} (needs path, sha256, bytes)")
    if Path(entry["path"]).name != entry["path"]:
        raise ModelLoadError(f"model card names a file outside its directory: {entry['path']!r}")
    path = directory / entry["path"]
    if not path.is_file():
        raise ModelLoadError(f"model file missing: {path}")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise ModelLoadError(f"{path}: {size} bytes, the model card says {entry['bytes']} "
                             f"({'truncated' if size < entry['bytes'] else 'modified'})")
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise ModelLoadError(f"{path}: sha256 {digest[:12]}... does not match the model card "
                             f"({entry['sha256'][:12]}...): corrupt or not the model the card describes")
    return path


def card_config(card: dict):
    from planner.config import from_dict
    from planner.errors import ConfigError
    from models.minireasoner import MiniReasonerConfig
    try:
        cfg = from_dict(MiniReasonerConfig, card["config"])
        # Cards written before the model saw predicted motion say nothing about it: current scan only.
        sensing = from_dict(SensingConfig, {"motion_lookahead": 0.0, **card["sensing"]})
    except ConfigError as exc:
        raise ModelLoadError(f"model card config invalid: {exc}") from None
    if cfg.num_sectors != sensing.num_sectors:
        raise ModelLoadError(f"model card mismatch: model takes {cfg.num_sectors} sectors, "
                             f"sensing config makes {sensing.num_sectors}")
    return cfg, sensing
