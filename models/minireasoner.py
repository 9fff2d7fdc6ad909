"""MiniReasoner: a tiny recursive reasoning network for local planning (one file, nanoGPT-style).

Input: a SensorSummary's `lidar` (B, S) in [0, 1] and `state` (B, 12) (see planner.sensing.STATE_FIELDS).
Output: scores over the vehicle's motion primitives (planner.vehicles.NUM_PRIMITIVES), a short local path
(robot frame), a value (for RL) and a confidence.

One model serves both vehicles: the vehicle's kinematics are part of the input (state fields
is_ackermann, max_speed, length, width form the "vehicle" token) and the decision is an index into a
primitive table that planner.vehicles builds per vehicle, so every choice is feasible for that vehicle.
A diff-drive robot and a car share obstacle-avoidance skills; only the command scale differs.

The four ideas, each real and measurable (planner bench latency):
1. Dynamic sparse attention. After one dense "perceive" layer over all tokens, a relevance scorer keeps
   the top-k lidar tokens (plus the always-kept state tokens) and every later layer runs on those only:
   fewer tokens are processed, not a mask over a dense score matrix. TopK + Gather export to ONNX.
2. Gated modular reasoning units. Each reasoning layer has M feed-forward modules ("understand",
   "propose", "verify" in `mini`) chosen by a gate: a softmax-weighted sum in training (soft), one
   module at inference (hard). The hard choice is argmax + a gather of that module's stacked weights,
   so it is data, not a Python branch: a traced/ONNX graph keeps choosing per input.
3. Recursive refinement with shared weights (TRM, arXiv 2510.04871): a latent z is refined by the same
   reasoning layers `steps` times (input re-injected every step); every step has heads (deep
   supervision), the runtime stops early when the confidence head is sure, with a hard cap.
4. Heads: primitive logits, path waypoints, value, confidence (trained to predict "my argmax is right").

`forward` is batched and differentiable (Stable-Baselines3 wraps it); `encode` and `step` are the two
pieces the runtime (and the ONNX export) run separately so it can exit early and watch its deadline.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from planner.sensing import STATE_DIM, STATE_FIELDS
from planner.vehicles import NUM_PRIMITIVES

# State fields grouped into the three state tokens (always kept by the sparse attention).
STATE_TOKENS = {
    "goal": ("goal_dist", "goal_cos", "goal_sin", "goal_near"),
    "motion": ("v", "w", "prev_v", "prev_w"),
    "vehicle": ("is_ackermann", "max_speed", "length", "width"),
}
MAX_SPEED_SCALE = 10.0  # state["max_speed"] = max_speed / 10 m/s (planner.sensing)


@dataclass(frozen=True)
class MiniReasonerConfig:
    num_sectors: int = 64          # lidar input width (SensingConfig.num_sectors)
    state_dim: int = STATE_DIM
    patch: int = 4                 # sectors per lidar token -> num_sectors / patch lidar tokens
    dim: int = 64                  # token width
    heads: int = 4
    ffn_mult: int = 4              # module hidden width = ffn_mult * dim
    num_modules: int = 3           # gated reasoning modules per reasoning layer
    reason_layers: int = 2         # shared layers applied at every refinement step
    keep_tokens: int = 4           # lidar tokens kept by the relevance scorer (sparse attention)
    sparse: bool = True            # False = dense attention everywhere (ablation)
    train_steps: int = 3           # refinement steps in forward() (deep supervision)
    max_steps: int = 3             # hard cap at inference (sized for the 10 ms budget)
    exit_confidence: float = 0.9   # stop refining once confidence >= this
    num_primitives: int = NUM_PRIMITIVES
    path_points: int = 10          # waypoints of the regressed local path
    path_horizon: float = 2.0      # s covered by the path (dt = horizon / points)
    module_names: tuple[str, ...] = ("understand", "propose", "verify")

    def validate(self) -> None:
        from planner.config import require
        require(self.num_sectors % self.patch == 0, "num_sectors must be a multiple of patch")
        require(self.dim % self.heads == 0, "dim must be a multiple of heads")
        require(1 <= self.keep_tokens <= self.num_sectors // self.patch,
                "keep_tokens must be in [1, num_sectors / patch]")
        require(self.num_modules >= 1 and self.reason_layers >= 1, "need >= 1 module and layer")
        require(1 <= self.train_steps and 1 <= self.max_steps <= 16, "steps must be in [1, 16]")
        require(0.0 < self.exit_confidence <= 1.0, "exit_confidence must be in (0, 1]")
        require(self.path_points >= 5 and self.path_horizon >= 1.5,
                "path needs >= 5 waypoints over >= 1.5 s")
        require(self.state_dim == STATE_DIM, f"state_dim must be {STATE_DIM}")

    @property
    def num_lidar_tokens(self) -> int:
        return self.num_sectors // self.patch

    @property
    def num_state_tokens(self) -> int:
        return len(STATE_TOKENS)

    def tokens(self, sparse: bool | None = None) -> int:
        """Tokens processed by the reasoning layers."""
        sparse = self.sparse if sparse is None else sparse
        lidar = self.keep_tokens if sparse else self.num_lidar_tokens
        return lidar + self.num_state_tokens

    def to_dict(self) -> dict:
        d = asdict(self)
        d["module_names"] = list(self.module_names)
        return d


def mini() -> MiniReasonerConfig:
    """The shipped default: ~0.3M parameters, 16 lidar tokens of which 4 are kept, 3 named modules."""
    return MiniReasonerConfig()


def seed() -> MiniReasonerConfig:
    """The published scale (~27M parameters, HRM/TRM-sized) with sparse activation: 24 modules per
    reasoning layer of which one runs per input (hard gating), over 4 + 3 kept tokens."""
    return MiniReasonerConfig(dim=256, heads=8, num_modules=24,
                              module_names=tuple(f"module{i}" for i in range(24)))


PRESETS = {"mini": mini, "seed": seed}


# ----------------------------------------------------------------------------------------------
# Blocks


class SelfAttention(nn.Module):
    """Plain multi-head self-attention, written out so the export is explicit and FLOPs are countable."""

    def __init__(self, cfg: MiniReasonerConfig):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.heads))
        y = att.softmax(dim=-1) @ v                      # (B, heads, T, C/heads)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: MiniReasonerConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.dim, cfg.ffn_mult * cfg.dim)
        self.out = nn.Linear(cfg.ffn_mult * cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.fc(x)))


class PerceiveBlock(nn.Module):
    """The one dense layer: every token sees every other before the relevance scorer decides."""

    def __init__(self, cfg: MiniReasonerConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.dim), SelfAttention(cfg)
        self.ln2, self.mlp = nn.LayerNorm(cfg.dim), MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GatedModules(nn.Module):
    """M feed-forward modules with their weights stacked as (M, ...) tensors and a gate over them.

    soft: every module runs, outputs mixed by the gate's softmax (differentiable; training).
    hard: argmax of the gate picks one module per sample and only its weights are gathered and
    applied (one module's compute; the index is data, so ONNX keeps the choice dynamic).
    """

    def __init__(self, cfg: MiniReasonerConfig):
        super().__init__()
        M, d, h = cfg.num_modules, cfg.dim, cfg.ffn_mult * cfg.dim
        self.gate = nn.Linear(d, M)
        self.w1 = nn.Parameter(torch.randn(M, d, h) * (1.0 / math.sqrt(d)))
        self.b1 = nn.Parameter(torch.zeros(M, h))
        self.w2 = nn.Parameter(torch.randn(M, h, d) * (1.0 / math.sqrt(h)))
        self.b2 = nn.Parameter(torch.zeros(M, d))

    def forward(self, x: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        gate_logits = self.gate(x.mean(dim=1))                        # (B, M): one choice per sample
        if hard:
            idx = gate_logits.argmax(dim=-1)                           # (B,)
            h = F.gelu(torch.bmm(x, self.w1[idx]) + self.b1[idx].unsqueeze(1))
            y = torch.bmm(h, self.w2[idx]) + self.b2[idx].unsqueeze(1)
            return y, F.one_hot(idx, self.w1.shape[0]).to(x.dtype)
        weights = gate_logits.softmax(dim=-1)
        h = F.gelu(torch.einsum("btd,mdh->bmth", x, self.w1) + self.b1[None, :, None, :])
        y = torch.einsum("bmth,mhd->bmtd", h, self.w2) + self.b2[None, :, None, :]
        return torch.einsum("bm,bmtd->btd", weights, y), weights


class ReasonBlock(nn.Module):
    """Attention over the kept tokens, then the gated modules. Shared across refinement steps."""

    def __init__(self, cfg: MiniReasonerConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.dim), SelfAttention(cfg)
        self.ln2, self.modules_ = nn.LayerNorm(cfg.dim), GatedModules(cfg)

    def forward(self, x: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.attn(self.ln1(x))
        y, gate = self.modules_(self.ln2(x), hard)
        return x + y, gate


# ----------------------------------------------------------------------------------------------
# The model


class MiniReasoner(nn.Module):
    def __init__(self, cfg: MiniReasonerConfig = MiniReasonerConfig()):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.dim
        # Tokenizer: lidar patches with a learned bearing embedding; three state tokens.
        self.lidar_embed = nn.Linear(cfg.patch, d)
        self.lidar_pos = nn.Parameter(torch.randn(cfg.num_lidar_tokens, d) * 0.02)
        self.state_embed = nn.ModuleList(nn.Linear(len(f), d) for f in STATE_TOKENS.values())
        self.state_type = nn.Parameter(torch.randn(cfg.num_state_tokens, d) * 0.02)
        self.register_buffer("state_index", torch.tensor(
            [[STATE_FIELDS.index(n) for n in names] for names in STATE_TOKENS.values()]),
            persistent=False)
        self.perceive = PerceiveBlock(cfg)
        self.relevance = nn.Linear(d, 1)       # scores lidar tokens after the dense layer
        self.z_init = nn.Parameter(torch.zeros(1, 1, d))
        self.reason = nn.ModuleList(ReasonBlock(cfg) for _ in range(cfg.reason_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head_logits = nn.Linear(d, cfg.num_primitives)
        self.head_path = nn.Linear(d, cfg.path_points * 2)
        self.head_value = nn.Linear(d, 1)
        self.head_confidence = nn.Linear(d, 1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- pieces the runtime calls ---------------------------------------------------------------

    def encode(self, lidar: torch.Tensor, state: torch.Tensor,
               sparse: bool | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokenize, run the dense perceive layer, keep the relevant tokens.

        Returns (x (B, T, d) the kept tokens, relevance (B, lidar tokens) in [0, 1],
        keep_index (B, k) indices of the kept lidar tokens; all of them when dense)."""
        cfg = self.cfg
        sparse = cfg.sparse if sparse is None else sparse
        B = lidar.shape[0]
        patches = lidar.reshape(B, cfg.num_lidar_tokens, cfg.patch)
        lidar_tok = self.lidar_embed(patches) + self.lidar_pos
        state_tok = torch.stack([emb(state[:, idx]) for emb, idx in
                                 zip(self.state_embed, self.state_index)], dim=1) + self.state_type
        x = self.perceive(torch.cat([lidar_tok, state_tok], dim=1))
        lidar_x, state_x = x[:, :cfg.num_lidar_tokens], x[:, cfg.num_lidar_tokens:]
        relevance = torch.sigmoid(self.relevance(lidar_x).squeeze(-1))          # (B, L)
        if sparse:
            keep = relevance.topk(cfg.keep_tokens, dim=1).indices               # (B, k)
        else:
            keep = torch.arange(cfg.num_lidar_tokens, device=lidar.device).expand(B, -1)
        kept = torch.gather(lidar_x, 1, keep.unsqueeze(-1).expand(-1, -1, cfg.dim))
        # Scaling kept tokens by their relevance is what lets the scorer learn (top-k has no gradient).
        kept = kept * torch.gather(relevance, 1, keep).unsqueeze(-1)
        return torch.cat([kept, state_x], dim=1), relevance, keep

    def init_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.z_init.expand_as(x).contiguous()

    def step(self, x: torch.Tensor, z: torch.Tensor, state: torch.Tensor,
             hard: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One refinement step: z <- reason_layers(z + x); heads read the new z."""
        h = z + x
        gates = []
        for block in self.reason:
            h, g = block(h, hard)
            gates.append(g)
        return h, self.heads(h, state) | {"gate": torch.stack(gates, dim=1)}   # gate (B, layers, M)

    def heads(self, z: torch.Tensor, state: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        pooled = self.ln_out(z).mean(dim=1)
        # Path in metres (robot frame): scaled by how far this vehicle can go in the horizon.
        reach = state[:, STATE_FIELDS.index("max_speed")] * MAX_SPEED_SCALE * cfg.path_horizon
        path = self.head_path(pooled).view(-1, cfg.path_points, 2) * reach.view(-1, 1, 1)
        return {"logits": self.head_logits(pooled), "path": path,
                "value": self.head_value(pooled).squeeze(-1),
                "confidence": torch.sigmoid(self.head_confidence(pooled)).squeeze(-1)}

    # -- training / evaluation entry point ------------------------------------------------------

    def forward(self, lidar: torch.Tensor, state: torch.Tensor, *, hard: bool | None = None,
                sparse: bool | None = None, steps: int | None = None) -> dict[str, torch.Tensor]:
        """lidar (B, S), state (B, 12) -> dict of the last step's logits (B, P), path (B, N, 2),
        value (B,), confidence (B,), plus every step's logits/confidence for deep supervision
        (step_logits (steps, B, P), step_confidence (steps, B)), gate (steps, B, layers, M),
        relevance (B, lidar tokens), keep_index (B, k).

        hard: hard module choice (default: not self.training); sparse: top-k tokens (default
        cfg.sparse); steps: refinement steps (default cfg.train_steps, no early exit).
        RL: Stable-Baselines3 switches eval mode (rollouts) and train mode (updates); pass `hard`
        explicitly so both compute the same log-probabilities."""
        hard = (not self.training) if hard is None else hard
        steps = self.cfg.train_steps if steps is None else steps
        x, relevance, keep = self.encode(lidar, state, sparse)
        z = self.init_latent(x)
        outs = []
        for _ in range(steps):
            z, out = self.step(x, z, state, hard)
            outs.append(out)
        last = dict(outs[-1])
        last["step_logits"] = torch.stack([o["logits"] for o in outs])
        last["step_confidence"] = torch.stack([o["confidence"] for o in outs])
        last["gate"] = torch.stack([o["gate"] for o in outs])
        last["relevance"], last["keep_index"] = relevance, keep
        return last


def supervised_loss(out: dict[str, torch.Tensor], primitive: torch.Tensor,
                    path: torch.Tensor | None = None, value: torch.Tensor | None = None,
                    path_weight: float = 1.0, value_weight: float = 0.5,
                    confidence_weight: float = 0.1,
                    gate_entropy_weight: float = 0.01) -> dict[str, torch.Tensor]:
    """Deep-supervision loss for imitation: cross-entropy at every refinement step, the confidence
    head trained to predict whether that step's argmax is the label, optional path regression
    (robot-frame waypoints (B, N, 2), metres) and value regression (B,) (e.g. Monte-Carlo returns,
    so the critic is warm-started too). A small gate-entropy term pushes the soft gates towards one
    module each, so the hard choice made at inference is close to what was trained.
    Returns the parts and their sum under "loss"."""
    step_logits, step_conf = out["step_logits"], out["step_confidence"]
    steps = step_logits.shape[0]
    ce = sum(F.cross_entropy(step_logits[i], primitive) for i in range(steps)) / steps
    correct = (step_logits.argmax(-1) == primitive.unsqueeze(0)).to(step_conf.dtype)
    conf = F.binary_cross_entropy(step_conf.clamp(1e-6, 1 - 1e-6), correct)
    gate = out["gate"].clamp_min(1e-8)
    gate_entropy = -(gate * gate.log()).sum(-1).mean()
    parts = {"ce": ce, "confidence": conf, "gate_entropy": gate_entropy}
    total = ce + confidence_weight * conf + gate_entropy_weight * gate_entropy
    if path is not None:
        parts["path"] = F.smooth_l1_loss(out["path"], path)
        total = total + path_weight * parts["path"]
    if value is not None:
        parts["value"] = F.mse_loss(out["value"], value)
        total = total + value_weight * parts["value"]
    parts["loss"] = total
    return parts


# ----------------------------------------------------------------------------------------------
# Accounting: attention FLOPs and parameter reuse (reported by `planner bench latency`)


def attention_flops(cfg: MiniReasonerConfig, sparse: bool, steps: int) -> dict[str, int]:
    """FLOPs (multiply-adds x 2) of the attention layers for one decision (batch 1).

    scores_mix: QK^T and softmax(.)V, the part quadratic in tokens ("attention FLOPs");
    projections: the qkv and output projections (linear in tokens); scorer: the relevance scorer.
    The perceive layer always sees all tokens; the reasoning layers see cfg.tokens(sparse)."""
    d, n_all = cfg.dim, cfg.num_lidar_tokens + cfg.num_state_tokens
    n = cfg.tokens(sparse)
    quad = lambda t: 2 * 2 * t * t * d          # QK^T + AV
    proj = lambda t: 2 * 4 * t * d * d          # q, k, v, out
    applications = cfg.reason_layers * steps
    scorer = 2 * cfg.num_lidar_tokens * d if sparse else 0
    return {"tokens_reasoning": n, "tokens_perceive": n_all,
            "scores_mix": quad(n_all) + applications * quad(n),
            "projections": proj(n_all) + applications * proj(n),
            "scorer": scorer}


@torch.no_grad()
def measured_attention_flops(model: MiniReasoner, lidar: torch.Tensor, state: torch.Tensor,
                             sparse: bool, steps: int) -> int:
    """Attention score/mix FLOPs actually executed for one input (batch 1), counted from the token
    count every attention call really received (forward hooks), not from the config."""
    seen: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[1]))
             for m in model.modules() if isinstance(m, SelfAttention)]
    try:
        model(lidar[:1], state[:1], hard=True, sparse=sparse, steps=steps)
    finally:
        for h in hooks:
            h.remove()
    return sum(2 * 2 * t * t * model.cfg.dim for t in seen)


def parameter_reuse(model: MiniReasoner, steps: int, hard: bool = True) -> dict[str, float]:
    """How often each parameter is applied per decision. Every reasoning-layer weight is applied once
    per refinement step (the recursion); `applied / unique` counts all of it, with one module per layer
    when hard (inference) and all modules when soft (training)."""
    cfg = model.cfg
    unique = model.num_params()
    n = lambda m: sum(p.numel() for p in m.parameters())
    per_module = (model.reason[0].modules_.w1[0].numel() + model.reason[0].modules_.b1[0].numel()
                  + model.reason[0].modules_.w2[0].numel() + model.reason[0].modules_.b2[0].numel())
    reason_all = sum(n(b) for b in model.reason)
    reason_active = reason_all - cfg.reason_layers * (cfg.num_modules - 1) * per_module if hard else reason_all
    heads = sum(n(m) for m in (model.ln_out, model.head_logits, model.head_path, model.head_value,
                                  model.head_confidence))
    once = unique - reason_all - heads
    applied = once + steps * (reason_active + heads)
    return {"unique_params": unique, "applied_params": applied, "reuse": applied / unique,
            "reasoning_weight_reuse": float(steps), "active_params_per_step": reason_active + heads}


# ----------------------------------------------------------------------------------------------
# The two inference graphs (hard gating) that planner.export writes to ONNX and planner.runtime runs


class FirstStepGraph(nn.Module):
    """(lidar, state) -> encode + first refinement step: (x, z, logits, path, value, confidence, gate,
    relevance, keep_index). A confident input needs nothing else."""

    def __init__(self, model: MiniReasoner, sparse: bool | None = None):
        super().__init__()
        self.model, self.sparse = model, sparse

    def forward(self, lidar: torch.Tensor, state: torch.Tensor):
        x, relevance, keep = self.model.encode(lidar, state, self.sparse)
        z, out = self.model.step(x, self.model.init_latent(x), state, hard=True)
        return (x, z, out["logits"], out["path"], out["value"], out["confidence"], out["gate"],
                relevance, keep)


class StepGraph(nn.Module):
    """(x, z, state) -> one more refinement step: (z, logits, path, value, confidence, gate)."""

    def __init__(self, model: MiniReasoner):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        z, out = self.model.step(x, z, state, hard=True)
        return z, out["logits"], out["path"], out["value"], out["confidence"], out["gate"]
