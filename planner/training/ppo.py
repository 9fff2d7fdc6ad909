"""Stage 2 (and 3): PPO from Stable-Baselines3 with a policy that IS MiniReasoner.

`MiniReasonerPolicy` replaces SB3's MLP heads by the model's own decision logits (a categorical over the
motion primitives) and value head. `AnchoredPPO` is SB3's PPO with one extra loss term,
kl_coef(t) * KL(imitation policy || policy) on the rollout states, with kl_coef decaying linearly to 0 over
the first `kl_anneal_fraction` of the stage: it keeps RL from forgetting the imitation policy while the
critic and the advantages are still noisy (shared/NOTES.md: actor-only warm starts collapse).
"""
from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import explained_variance

from planner.training.modelio import build_model


class MiniReasonerPolicy(ActorCriticPolicy):
    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule,
                 reasoner_config: dict | str = "mini", **kwargs):
        self.reasoner_config = reasoner_config
        kwargs["ortho_init"] = False            # keep the model's own initialisation / loaded weights
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule) -> None:
        self.reasoner = build_model(self.reasoner_config)
        self.optimizer = self.optimizer_class(self.reasoner.parameters(), lr=lr_schedule(1),
                                              **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict:
        data = super()._get_constructor_parameters()
        data["reasoner_config"] = self.reasoner_config
        return data

    def logits_and_values(self, obs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        # Soft gating in rollouts AND updates: SB3 flips eval/train mode between them, and the model's
        # default (hard in eval mode) would make the stored log-probs and the PPO ratio disagree.
        out = self.reasoner(obs["lidar"].float(), obs["state"].float(), hard=False)
        return out["logits"], out["value"].reshape(-1)

    def forward(self, obs, deterministic: bool = False):
        logits, values = self.logits_and_values(obs)
        dist = self.action_dist.proba_distribution(action_logits=logits)
        actions = dist.get_actions(deterministic=deterministic)
        return actions, values.reshape(-1, 1), dist.log_prob(actions)

    def evaluate_actions(self, obs, actions):
        logits, values = self.logits_and_values(obs)
        dist = self.action_dist.proba_distribution(action_logits=logits)
        return values.reshape(-1, 1), dist.log_prob(actions), dist.entropy()

    def get_distribution(self, obs):
        logits, _ = self.logits_and_values(obs)
        return self.action_dist.proba_distribution(action_logits=logits)

    def predict_values(self, obs):
        return self.logits_and_values(obs)[1].reshape(-1, 1)


class AnchoredPPO(PPO):
    """PPO + a decaying KL term to a frozen reference (imitation) policy."""

    def set_anchor(self, reference: torch.nn.Module | None, kl_coef: float, anneal_fraction: float,
                   stage_steps: int, stage_start: int = 0) -> None:
        self.anchor = None if reference is None else copy.deepcopy(reference).eval().requires_grad_(False)
        self.anchor_kl_coef, self.anchor_anneal_fraction = kl_coef, anneal_fraction
        self.anchor_stage_steps, self.anchor_stage_start = max(stage_steps, 1), stage_start

    def _excluded_save_params(self) -> list[str]:
        return super()._excluded_save_params() + ["anchor"]

    def anchor_coef(self) -> float:
        if getattr(self, "anchor", None) is None:
            return 0.0
        progress = (self.num_timesteps - self.anchor_stage_start) / self.anchor_stage_steps
        return self.anchor_kl_coef * max(0.0, 1.0 - progress / self.anchor_anneal_fraction)

    def train(self) -> None:
        """SB3's PPO.train (clipped surrogate + value + entropy), plus the KL anchor. Trimmed to the
        options we use: discrete actions, normalised advantages, no value clipping; Huber value loss
        (as in the imitation stage, so the warm-started critic keeps the same objective)."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        kl_coef = self.anchor_coef()
        logs: dict[str, list[float]] = defaultdict(list)
        for _ in range(self.n_epochs):
            for batch in self.rollout_buffer.get(self.batch_size):
                actions = batch.actions.long().flatten()
                logits, values = self.policy.logits_and_values(batch.observations)
                dist = torch.distributions.Categorical(logits=logits)
                log_prob, entropy = dist.log_prob(actions), dist.entropy()
                adv = batch.advantages
                if len(adv) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                ratio = torch.exp(log_prob - batch.old_log_prob)
                policy_loss = -torch.min(adv * ratio, adv * ratio.clamp(1 - clip_range, 1 + clip_range)).mean()
                value_loss = F.smooth_l1_loss(values, batch.returns)   # Huber, as in imitation
                entropy_loss = -entropy.mean()
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                if kl_coef > 0:
                    with torch.no_grad():
                        ref = self.anchor(batch.observations["lidar"].float(),
                                          batch.observations["state"].float(), hard=False)["logits"]
                    ref_logp = F.log_softmax(ref, -1)
                    kl = (ref_logp.exp() * (ref_logp - F.log_softmax(logits, -1))).sum(-1).mean()
                    loss = loss + kl_coef * kl
                    logs["anchor_kl"].append(kl.item())
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                with torch.no_grad():
                    log_ratio = log_prob - batch.old_log_prob
                    logs["approx_kl"].append(((log_ratio.exp() - 1) - log_ratio).mean().item())
                logs["policy_gradient_loss"].append(policy_loss.item())
                logs["value_loss"].append(value_loss.item())
                logs["entropy_loss"].append(entropy_loss.item())
                logs["clip_fraction"].append(((ratio - 1).abs() > clip_range).float().mean().item())
            self._n_updates += 1
        for k, v in logs.items():
            self.logger.record(f"train/{k}", float(np.mean(v)))
        self.logger.record("train/anchor_coef", kl_coef)
        self.logger.record("train/explained_variance",
                           explained_variance(self.rollout_buffer.values.flatten(),
                                              self.rollout_buffer.returns.flatten()))
