"""DAgger rollouts of the planner as deployed: the learner's choice goes through the runtime's verifier.

Plain DAgger rolls out the bare network, so the expert labels the states the network drives into alone:
its collisions end episodes that the verified planner would have survived, and the states near movers
where the verifier corrects or stops it -- where every remaining Nav collision starts (docs/BENCHMARKS.md,
"Session 3") -- are rarely visited and never labelled. Here each env keeps its own MotionTracker memory
(updated every step, whoever drives), and the learner's logits go through `Verifier.verify` on the same
swept view as `planner.runtime.Planner` (`swept_view`), with the runtime's default configuration. No
deadline: training measures decisions, not latency.

`families` picks which scenario families are verified ("nav": differential drive, "drive": cars); the
others roll out the bare network. Verified Drive rollouts cost Drive success on VAL in every run that
used them (docs/BENCHMARKS.md, "Session 7").
"""
from __future__ import annotations

import numpy as np
import torch

from planner.runtime import RuntimeConfig, swept_view
from planner.sensing import ModelInput, SensorSummary
from planner.verifier import Motion, Verifier


class VerifiedLearner:
    """act for `run_episodes`: the greedy learner behind the runtime's verifier, one tracker per env."""

    def __init__(self, model: torch.nn.Module, n_envs: int, cfg: RuntimeConfig = RuntimeConfig(),
                 families: tuple[str, ...] = ("nav", "drive")):
        self.model, self.cfg = model, cfg
        self.kinds = {{"nav": "diff", "drive": "ackermann"}[f] for f in families}
        self.inputs = [ModelInput(False, cfg.verifier) for _ in range(n_envs)]
        self.motion: list[Motion | None] = [None] * n_envs
        self.verifiers: dict = {}
        self.counts = {"verified": 0, "corrected": 0, "fallback": 0}

    def reset(self, i: int) -> None:
        """Env i starts a new episode: forget its scans."""
        self.inputs[i].reset()
        self.motion[i] = None

    def observe(self, i: int, summary: SensorSummary) -> None:
        """Env i's current scan, every step (the tracker compares scans over time)."""
        self.motion[i] = self.inputs[i](summary, track=True)[1]

    def __call__(self, live: list[int], lidar: np.ndarray, state: np.ndarray,
                 summaries: list[SensorSummary]) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            logits = self.model(torch.as_tensor(lidar), torch.as_tensor(state))["logits"].numpy()
        self.model.train(was_training)
        out = np.empty(len(live), dtype=np.int64)
        for j, (i, summary) in enumerate(zip(live, summaries)):
            if summary.vehicle.kind not in self.kinds:
                out[j] = int(np.argmax(logits[j]))
                continue
            verifier = self.verifiers.get(summary.vehicle)
            if verifier is None:
                verifier = self.verifiers[summary.vehicle] = Verifier(summary.vehicle, self.cfg.verifier)
            swept, motion = swept_view(summary, self.motion[i], self.cfg.verify_point_bin_deg)
            scores = logits[j].astype(np.float64)
            result = verifier.verify(swept, scores, int(np.argmax(scores)), motion)
            self.counts[result.status] += 1
            out[j] = result.primitive
        return out
