"""DAgger rollouts through the runtime's verifier (planner.training.verified): real PyBullet Nav env,
the real Verifier and MotionTracker; the learner is a fixed policy that always drives full speed ahead."""
from __future__ import annotations

import numpy as np
import torch

from planner.sensing import Pose2D
from planner.training.data import run_episodes
from planner.training.envs import ScenarioMixEnv
from planner.training.imitation import make_act_fn
from planner.training.verified import VerifiedLearner
from planner.vehicles import NUM_PRIMITIVES, SPEED_FRACTIONS, TURN_FRACTIONS
from sim.worlds import Box, World

FULL_SPEED_AHEAD = (len(SPEED_FRACTIONS) - 1) * len(TURN_FRACTIONS) + TURN_FRACTIONS.index(0.0)


class FullSpeedAhead(torch.nn.Module):
    def forward(self, lidar, state):
        logits = torch.zeros(lidar.shape[0], NUM_PRIMITIVES)
        logits[:, FULL_SPEED_AHEAD] = 10.0
        return {"logits": logits}


def test_verified_rollouts_survive_where_the_bare_learner_crashes_and_the_expert_labels_every_state():
    wall_ahead = World([Box(2.0, 0.0, 0.3, 1.0)], Pose2D(0, 0, 0), Pose2D(4, 0), (-5, -5, 5, 5))
    env = ScenarioMixEnv(("nav",), maps=[wall_ahead])
    model = FullSpeedAhead()
    try:
        _, bare = run_episodes([env], iter([("map", 0, 1)]), make_act_fn(model), expert_prob=0.0, record=False)
        cars_only = VerifiedLearner(model, 1, families=("drive",))     # Nav rollouts stay bare
        _, unverified = run_episodes([env], iter([("map", 0, 1)]), cars_only, expert_prob=0.0, record=False)
        learner = VerifiedLearner(model, 1)
        data, verified = run_episodes([env], iter([("map", 0, 1), ("map", 0, 2)]), learner, expert_prob=0.0)
    finally:
        env.close()
    assert bare[0].outcome == "collision"
    assert unverified[0].outcome == "collision" and sum(cars_only.counts.values()) == 0
    assert all(e.outcome != "collision" for e in verified)
    # the verifier corrected the learner; the straight-ahead choice was still accepted while clear
    assert learner.counts["verified"] > 0 and learner.counts["corrected"] + learner.counts["fallback"] > 0
    assert len(data) == sum(e.steps for e in verified)       # every visited state is labelled ...
    assert (data.label != FULL_SPEED_AHEAD).any()            # ... by the expert, not by the learner
    assert learner.motion[0] is not None                     # the env's tracker followed its scans
