"""MiniReasoner architecture: shapes, parameter budgets, sparse tokens, gated modules, recursion."""
import dataclasses

import pytest
import torch

from models.minireasoner import (MiniReasoner, MiniReasonerConfig, attention_flops,
                                 measured_attention_flops, mini,
                                 parameter_reuse, seed, supervised_loss)
from planner.config import from_dict
from planner.errors import ConfigError
from planner.vehicles import NUM_PRIMITIVES

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MiniReasoner(mini()).eval()


def batch(n=4, seed_=0):
    g = torch.Generator().manual_seed(seed_)
    return torch.rand(n, 64, generator=g), torch.rand(n, 12, generator=g)


def test_parameter_budgets():
    assert MiniReasoner(mini()).num_params() <= 1_000_000
    n_seed = sum(p.numel() for p in MiniReasoner(seed()).parameters())
    assert 24e6 <= n_seed <= 30e6


def test_forward_shapes_batched(model):
    lidar, state = batch(5)
    out = model(lidar, state)
    cfg = model.cfg
    assert out["logits"].shape == (5, NUM_PRIMITIVES)
    assert out["path"].shape == (5, cfg.path_points, 2) and cfg.path_points >= 5
    assert out["value"].shape == (5,) and out["confidence"].shape == (5,)
    assert ((out["confidence"] > 0) & (out["confidence"] < 1)).all()
    assert out["step_logits"].shape == (cfg.train_steps, 5, NUM_PRIMITIVES)
    assert out["gate"].shape == (cfg.train_steps, 5, cfg.reason_layers, cfg.num_modules)
    assert out["keep_index"].shape == (5, cfg.keep_tokens)
    # Batched = per-sample (no cross-talk between batch rows).
    single = model(lidar[2:3], state[2:3])
    assert torch.allclose(single["logits"][0], out["logits"][2], atol=1e-5)


def test_sparse_attention_processes_fewer_tokens(model):
    seen = []
    hook = model.reason[0].attn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[1]))
    lidar, state = batch(2)
    model(lidar, state, sparse=True, steps=2)
    model(lidar, state, sparse=False, steps=2)
    hook.remove()
    cfg = model.cfg
    assert seen == [cfg.keep_tokens + 3] * 2 + [cfg.num_lidar_tokens + 3] * 2


def test_relevance_scorer_picks_the_top_tokens(model):
    lidar, state = batch(3)
    out = model(lidar, state, sparse=True)
    top = out["relevance"].topk(model.cfg.keep_tokens, dim=1).indices
    assert torch.equal(out["keep_index"].sort(1).values, top.sort(1).values)


def test_sparse_removes_at_least_72_percent_of_attention_flops_at_the_cap():
    cfg = mini()
    sparse = attention_flops(cfg, sparse=True, steps=cfg.max_steps)
    dense = attention_flops(cfg, sparse=False, steps=cfg.max_steps)
    removed = 1 - (sparse["scores_mix"] + sparse["scorer"]) / dense["scores_mix"]
    assert removed >= 0.72
    assert sparse["projections"] < dense["projections"]


def test_measured_attention_flops_match_the_accounting(model):
    lidar, state = batch(1)
    for sparse in (True, False):
        for steps in (1, 3):
            assert measured_attention_flops(model, lidar, state, sparse, steps) == \
                attention_flops(model.cfg, sparse, steps)["scores_mix"]


def test_hard_gating_runs_only_the_chosen_module(model):
    block = model.reason[0].modules_
    x = torch.randn(6, 7, model.cfg.dim)
    with torch.no_grad():
        y_hard, onehot = block(x, hard=True)
        idx = onehot.argmax(-1)
        for b in range(6):
            m = int(idx[b])
            h = torch.nn.functional.gelu(x[b] @ block.w1[m] + block.b1[m])
            assert torch.allclose(y_hard[b], h @ block.w2[m] + block.b2[m], atol=1e-5)
        # Changing a module nobody chose changes soft outputs but not hard ones.
        unused = [m for m in range(model.cfg.num_modules) if m not in idx.tolist()]
        if unused:
            saved = block.w2.data.clone()
            block.w2.data[unused[0]] += 1.0
            y_hard2, _ = block(x, hard=True)
            y_soft2, _ = block(x, hard=False)
            block.w2.data.copy_(saved)
            y_soft, _ = block(x, hard=False)
            assert torch.allclose(y_hard, y_hard2)
            assert not torch.allclose(y_soft, y_soft2)


def test_soft_gating_is_a_weighted_sum_and_trains_everything():
    torch.manual_seed(1)
    m = MiniReasoner(mini()).train()
    lidar, state = batch(8)
    out = m(lidar, state)
    assert torch.allclose(out["gate"].sum(-1), torch.ones_like(out["gate"].sum(-1)))
    target_path = torch.zeros_like(out["path"])
    loss = supervised_loss(out, torch.randint(0, NUM_PRIMITIVES, (8,)), target_path,
                           value=torch.ones(8))["loss"]
    loss.backward()
    for name in ("relevance.weight", "reason.0.modules_.gate.weight", "reason.1.modules_.w1",
                 "head_confidence.weight", "head_value.weight", "head_path.weight"):
        grad = dict(m.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_recursion_reuses_the_same_weights(model):
    lidar, state = batch(2)
    with torch.no_grad():
        one, three = model(lidar, state, steps=1), model(lidar, state, steps=3)
    assert not torch.allclose(one["logits"], three["logits"])      # refinement changes the answer
    assert torch.allclose(three["step_logits"][0], one["logits"], atol=1e-6)  # same first step
    reuse = parameter_reuse(model, steps=3, hard=False)
    assert reuse["reasoning_weight_reuse"] == 3.0 and reuse["reuse"] > 2.0


def test_vehicle_conditioning_changes_the_output(model):
    lidar, state = batch(1)
    car = state.clone()
    car[0, 7:11] = torch.tensor([1.0, 0.8, 0.88, 0.36])
    with torch.no_grad():
        a, b = model(lidar, state), model(lidar, car)
    assert not torch.allclose(a["logits"], b["logits"])
    # The path head is scaled by the vehicle's reach (max_speed * horizon).
    assert not torch.allclose(a["path"], b["path"])


def test_config_validation():
    with pytest.raises(ConfigError):
        from_dict(MiniReasonerConfig, {"keep_tokens": 99})
    with pytest.raises(ConfigError):
        from_dict(MiniReasonerConfig, {"patch": 5})
    with pytest.raises(ConfigError):
        MiniReasoner(dataclasses.replace(mini(), path_points=3))


def test_config_yaml_documents_the_presets_and_runtime():
    from pathlib import Path

    from models.minireasoner import PRESETS
    from planner.config import load_yaml
    from planner.runtime import RuntimeConfig
    path = Path(__file__).resolve().parent.parent / "config" / "model.yaml"
    for name, preset in PRESETS.items():
        assert load_yaml(path, MiniReasonerConfig, name) == preset(), name
    assert load_yaml(path, RuntimeConfig, "runtime") == RuntimeConfig()
