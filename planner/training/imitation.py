"""Stage 1: behaviour cloning of the privileged expert, actor AND critic.

The actor learns the expert's primitive (cross-entropy); the critic regresses the discounted
Monte-Carlo return of the data's episodes, so PPO starts with a value function that matches the policy
(an actor-only warm start tends to collapse at the start of RL: see shared/NOTES.md). When the model
has a path head, it regresses the path of the expert's primitive (robot frame) as an auxiliary target.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from planner.training.data import Dataset


def model_outputs(model: torch.nn.Module, lidar: torch.Tensor, state: torch.Tensor) -> dict:
    out = model(lidar, state)
    out["value"] = out["value"].reshape(-1)
    return out


def make_act_fn(model: torch.nn.Module, deterministic: bool = True):
    """ActFn for rollouts: argmax (or a sample) of the model's primitive logits, batched, no grad."""
    def act(lidar: np.ndarray, state: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            logits = model(torch.as_tensor(lidar), torch.as_tensor(state))["logits"]
        model.train(was_training)
        if deterministic:
            return logits.argmax(-1).numpy()
        return torch.distributions.Categorical(logits=logits).sample().numpy()
    return act


def bc_loss(model: torch.nn.Module, lidar: torch.Tensor, state: torch.Tensor, label: torch.Tensor,
            ret: torch.Tensor, value_coef: float, path_coef: float,
            path_target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """The model's deep-supervision loss: cross-entropy at every refinement step, confidence, path,
    and the critic's regression to the Monte-Carlo return."""
    from models.minireasoner import supervised_loss
    out = model_outputs(model, lidar, state)
    parts = supervised_loss(out, label, path=path_target if path_coef > 0 else None, path_weight=path_coef)
    # Huber, not MSE, for the critic: its gradient stays bounded, so early value errors (returns of
    # different scales in Nav and Drive) cannot swamp the actor through the shared trunk.
    value_loss = F.smooth_l1_loss(out["value"], ret)
    stats = {k: v.item() for k, v in parts.items()} | {"value": value_loss.item()}
    stats["accuracy"] = (out["logits"].argmax(-1) == label).float().mean().item()
    return parts["loss"] + value_coef * value_loss, stats


def train_epochs(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Dataset, epochs: int,
                 batch_size: int, value_coef: float, path_coef: float, rng: np.random.Generator,
                 on_batch=None, on_epoch=None, start_epoch: int = 0,
                 path_target: np.ndarray | None = None) -> dict:
    """Minibatch passes over `data`; `on_epoch(epoch, stats)` is where the caller checkpoints.
    `path_target` (N, P, 2): the expert primitive's robot-frame path per sample (see paths.py)."""
    lidar = torch.as_tensor(data.lidar)
    state = torch.as_tensor(data.state)
    label = torch.as_tensor(data.label)
    ret = torch.as_tensor(data.ret)
    paths = torch.as_tensor(path_target) if path_target is not None else None
    n = len(data)
    stats: dict = {}
    model.train()
    for epoch in range(start_epoch, epochs):
        order = torch.as_tensor(rng.permutation(n))
        sums: dict[str, float] = {}
        batches = 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss, s = bc_loss(model, lidar[idx], state[idx], label[idx], ret[idx], value_coef, path_coef,
                              paths[idx] if paths is not None else None)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for k, v in s.items():
                sums[k] = sums.get(k, 0.0) + v
            batches += 1
            if on_batch:
                on_batch(len(idx), s)
        stats = {k: v / max(batches, 1) for k, v in sums.items()}
        if on_epoch:
            on_epoch(epoch, stats)
    return stats
