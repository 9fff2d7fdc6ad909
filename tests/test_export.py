"""Export to ONNX fp32/int8, the model card, and loading checks (real files, real ONNX Runtime)."""
import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from planner.cli import main
from planner.errors import ModelLoadError
from planner.export import (checked_file, export_untrained, load_card, load_checkpoint, sha256_of)
from planner.runtime import OrtBackend, Planner, RuntimeConfig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mini")
    export_untrained(d, "mini", seed=0)
    return d


def fresh_copy(model_dir, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(model_dir, dst)
    return dst


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 64), dtype=np.float32), rng.random((n, 12), dtype=np.float32)


def run_graphs(backend, lidar, state, steps=3):
    out = backend.first(lidar, state)
    for _ in range(steps - 1):
        out = {**out, **backend.step(out["x"], out["z"], state)}
    return out


def test_card_lists_every_file_with_its_hash(model_dir):
    card, directory = load_card(model_dir / "mini.card.json")
    assert card["params"] <= 1_000_000 and card["preset"] == "mini"
    assert card["quantization"]["per_channel"] and card["quantization"]["reduce_range"]
    entries = [card["files"]["torch"]] + [e for b in ("onnx-fp32", "onnx-int8")
                                           for e in card["files"][b].values()]
    assert {e["path"] for e in entries} == {"mini.pt", "mini.fp32.onnx", "mini.fp32.step.onnx",
                                            "mini.int8.onnx", "mini.int8.step.onnx"}
    for e in entries:
        assert sha256_of(directory / e["path"]) == e["sha256"]
    assert "untrained" in card["training"]["data"]


def test_onnx_matches_torch_and_keeps_choices_dynamic(model_dir):
    card, d = load_card(model_dir)
    model, _ = load_checkpoint(d / "mini.pt")
    fp32 = OrtBackend(d / "mini.fp32.onnx", d / "mini.fp32.step.onnx")
    lidar, state = inputs(64)
    with torch.no_grad():
        ref = model(torch.from_numpy(lidar), torch.from_numpy(state), hard=True, steps=3)
    got = run_graphs(fp32, lidar, state)
    np.testing.assert_allclose(got["logits"], ref["logits"].numpy(), atol=1e-4)
    np.testing.assert_allclose(got["confidence"], ref["confidence"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(got["gate"].argmax(-1), ref["gate"][-1].argmax(-1).numpy())
    # The module choice and the kept tokens vary per input in the exported graph (not frozen by the trace).
    assert len({tuple(g) for g in got["gate"].argmax(-1)}) > 1
    assert len({tuple(sorted(k)) for k in got["keep_index"]}) > 1
    ops = {n.op_type for f in ("mini.fp32.onnx", "mini.fp32.step.onnx")
           for n in onnx.load(str(d / f)).graph.node}
    assert {"TopK", "ArgMax", "Gather"} <= ops and "If" not in ops and "Loop" not in ops


def test_int8_is_close_to_fp32(model_dir):
    d = model_dir
    fp32 = OrtBackend(d / "mini.fp32.onnx", d / "mini.fp32.step.onnx")
    int8 = OrtBackend(d / "mini.int8.onnx", d / "mini.int8.step.onnx")
    lidar, state = inputs(64, seed=1)
    a, b = run_graphs(fp32, lidar, state), run_graphs(int8, lidar, state)
    assert np.abs(a["confidence"] - b["confidence"]).max() < 0.05
    assert np.abs(a["logits"] - b["logits"]).mean() < 0.05
    assert (d / "mini.int8.onnx").stat().st_size < 0.5 * (d / "mini.fp32.onnx").stat().st_size


def test_int8_quantizes_the_reasoning_layers_only(model_dir):
    """Encoder (token choice), gates (module choice) and heads stay fp32; attention and modules int8."""
    for f in ("mini.int8.onnx", "mini.int8.step.onnx"):
        nodes = onnx.load(str(model_dir / f)).graph.node
        quantized = [n.name for n in nodes if n.op_type in ("MatMulInteger", "DequantizeLinear",
                                                             "DynamicQuantizeMatMul", "MatMulIntegerToFloat")]
        assert any("/reason.0/attn/" in q for q in quantized)
        assert any("/reason.1/modules_/" in q for q in quantized)
        assert not [q for q in quantized if not q.startswith("/reason.") or "/gate/" in q], quantized


def test_missing_truncated_corrupt_and_mismatched_files(model_dir, tmp_path):
    d = fresh_copy(model_dir, tmp_path)
    card, _ = load_card(d)
    entry = card["files"]["onnx-int8"]["first"]
    # Truncated
    data = (d / entry["path"]).read_bytes()
    (d / entry["path"]).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        Planner(RuntimeConfig(model_path=str(d / "mini.card.json")))
    # Corrupt, same size
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2] ^= 0xFF
    (d / entry["path"]).write_bytes(bytes(corrupt))
    with pytest.raises(ModelLoadError, match="sha256"):
        Planner(RuntimeConfig(model_path=str(d)))
    # Missing
    (d / entry["path"]).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        checked_file(card, d, entry)
    # The other backends still load: each checks only its own files.
    Planner(RuntimeConfig(model_path=str(d), backend="onnx-fp32"))


def test_bad_cards(tmp_path, model_dir):
    with pytest.raises(ModelLoadError, match="not found"):
        Planner(RuntimeConfig(model_path=str(tmp_path / "nope.card.json")))
    d = fresh_copy(model_dir, tmp_path)
    card_path = d / "mini.card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_card(card_path)
    card_path.write_text(json.dumps({**card, "sensing": {**card["sensing"], "num_sectors": 32}}))
    with pytest.raises(ModelLoadError, match="mismatch"):
        Planner(RuntimeConfig(model_path=str(card_path)))
    card_path.write_text(json.dumps({**card, "num_primitives": 12}))
    with pytest.raises(ModelLoadError, match="primitives"):
        load_card(card_path)
    bad_files = json.loads(json.dumps(card))
    bad_files["files"]["onnx-int8"]["first"]["path"] = "../../etc/passwd"
    card_path.write_text(json.dumps(bad_files))
    with pytest.raises(ModelLoadError, match="outside its directory"):
        Planner(RuntimeConfig(model_path=str(card_path)))
    del bad_files["files"]["onnx-int8"]["first"]["sha256"]
    card_path.write_text(json.dumps(bad_files))
    with pytest.raises(ModelLoadError, match="malformed"):
        Planner(RuntimeConfig(model_path=str(card_path)))
    card_path.write_text(json.dumps({**card, "format": "something-else"}))
    with pytest.raises(ModelLoadError, match="not a MiniReasoner model card"):
        load_card(card_path)


class Payload:
    """Anything that is not a tensor / plain type: weights_only=True must refuse to unpickle it."""


def test_checkpoints_are_never_unpickled(tmp_path, model_dir):
    model, _ = load_checkpoint(model_dir / "mini.pt")
    path = tmp_path / "evil.pt"
    torch.save({"config": model.cfg.to_dict(), "model": model.state_dict(), "extra": Payload()}, path)
    with pytest.raises(ModelLoadError, match="not a loadable checkpoint"):
        load_checkpoint(path)
    torch.save({"weights": model.state_dict()}, path)
    with pytest.raises(ModelLoadError, match="not a MiniReasoner checkpoint"):
        load_checkpoint(path)


def test_ort_failure_falls_back_to_torch(model_dir, tmp_path):
    """A graph ONNX Runtime cannot load (hash matches the card) -> PyTorch fallback, or a clear error."""
    d = fresh_copy(model_dir, tmp_path)
    card_path = d / "mini.card.json"
    card = json.loads(card_path.read_text())
    bad = d / "mini.int8.onnx"
    bad.write_bytes(b"not an onnx graph")
    card["files"]["onnx-int8"]["first"].update(sha256=sha256_of(bad), bytes=bad.stat().st_size)
    card_path.write_text(json.dumps(card))
    planner = Planner(RuntimeConfig(model_path=str(card_path)))
    assert planner.backend_name == "torch"
    with pytest.raises(ModelLoadError, match="cannot load"):
        Planner(RuntimeConfig(model_path=str(card_path), torch_fallback=False))


def test_export_cli(tmp_path, capsys, model_dir):
    assert main(["export", "--checkpoint", str(model_dir / "mini.pt"), "--out", str(tmp_path / "a"),
                 "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["preset"] == "mini" and card["files"]["onnx-int8"]["first"]["path"] == "mini.int8.onnx"
    Planner(RuntimeConfig(model_path=card["card_path"]))
    assert main(["export", "--out", str(tmp_path / "b")]) == 2                 # neither source
    assert main(["export", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert main(["export", "--checkpoint", str(model_dir / "mini.pt"), "--config", "seed",
                 "--out", str(tmp_path / "c")]) == 2


def test_bench_latency_prints_one_json_document(tmp_path, capsys):
    """Smoke run of `planner bench latency` (mini only, few decisions): the real simulator summaries,
    real exports and ORT; checks the structure, not the (machine-dependent) figures."""
    pytest.importorskip("sim")
    untrained = export_untrained(tmp_path / "untrained")   # agreement on a known, untrained model
    rc = main(["bench", "latency", "--json", "--configs", "mini", "--decisions", "10", "--val", "12",
               "--model", str(untrained), "--out", str(tmp_path / "bench")])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["latency_ms"]) == {f"mini/{a}/{b}" for a in ("sparse", "dense")
                                         for b in ("torch", "onnx-fp32", "onnx-int8")}
    assert result["latency_ms"]["mini/sparse/onnx-int8"]["model"]["count"] == 10
    assert result["attention_flops"]["mini"]["steps_3"]["scores_mix_removed"] >= 0.72
    assert result["int8_agreement"]["trained"] is False and result["int8_agreement"]["n"] > 0
    assert (tmp_path / "bench" / "bench_latency.png").stat().st_size > 0
    # a --model that does not exist is an error before any timing (it used to be replaced silently)
    assert main(["bench", "latency", "--configs", "mini", "--model", str(tmp_path / "none.card.json")]) == 2


def test_export_does_not_overwrite_a_trained_model_without_force(tmp_path, capsys):
    """`planner export --random-init` (default --out models/weights) used to replace the shipped model."""
    card = tmp_path / "mini.card.json"
    card.write_text(json.dumps({"training": {"data": "planner train TRAIN seeds"}}))
    assert main(["export", "--random-init", "--out", str(tmp_path)]) == 2
    assert "trained model" in capsys.readouterr().err
    assert json.loads(card.read_text())["training"]["data"] == "planner train TRAIN seeds"
    assert main(["export", "--random-init", "--out", str(tmp_path), "--force"]) == 0
    assert "untrained" in json.loads(card.read_text())["training"]["data"]
