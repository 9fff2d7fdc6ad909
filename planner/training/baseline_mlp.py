"""The baseline users would pick instead: Stable-Baselines3 PPO with its default MLP policy
(MultiInputPolicy on the same Dict observation, the same 39 primitives, the same reward), trained with
the same number of environment steps as the whole MiniReasoner pipeline (imitation data included) and
the same automatic curriculum, from scratch (it gets no expert labels: that is the point of comparing).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from planner.sensing import ModelInput, SensingConfig
from planner.training.config import TrainConfig
from planner.training.logs import read_json

log = logging.getLogger("planner.train")


def train_baseline(cfg: TrainConfig, out: Path, env_steps: int, kinds: tuple[str, ...]) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from planner.training.curriculum import Curriculum, TrainingCallback
    from planner.training.envs import ScenarioMixEnv, num_levels
    b, c = cfg.baseline, cfg.curriculum
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)

    def factory(i: int):
        return lambda: Monitor(ScenarioMixEnv(kinds, (), seed=cfg.seed * 1000 + 700 + i, reward=cfg.reward,
                                                    reward_scale=cfg.reward_scale))
    venv = DummyVecEnv([factory(i) for i in range(b.n_envs)])
    curriculum = Curriculum({k: num_levels(k) - 1 for k in kinds}, c.start_level, c.success_threshold, c.window,
                            c.review_fraction, b.drive_fraction)
    ckpt = read_json(out / "ckpt.json")
    if ckpt and (out / "ckpt.zip").exists():
        model = PPO.load(out / "ckpt.zip", env=venv, device="cpu")
        if ckpt.get("curriculum"):
            curriculum.load_state(ckpt["curriculum"])
        log.info("baseline: resuming at %d env steps", model.num_timesteps)
    else:
        model = PPO("MultiInputPolicy", venv, learning_rate=b.lr, n_steps=b.n_steps, batch_size=b.batch_size,
                    n_epochs=b.n_epochs, gamma=cfg.rl.gamma, gae_lambda=cfg.rl.gae_lambda, ent_coef=b.ent_coef,
                    policy_kwargs={"net_arch": list(b.net_arch)}, seed=cfg.seed, device="cpu")
    model.set_logger(configure(str(out), ["csv", "tensorboard"]))
    callback = TrainingCallback(out, env_steps, cfg.rl.checkpoint_every, "baseline sb3-mlp PPO", curriculum)
    remaining = env_steps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callback, reset_num_timesteps=False)
    callback.save_checkpoint()
    steps = int(model.num_timesteps)
    model.save(out / "sb3_mlp.zip")
    venv.close()
    val = validate_sb3(model, kinds, cfg.imitation.val_episodes_per_level, cfg.seed)
    return {"env_steps": steps, "val_success": val["success"], "val": val, "curriculum": curriculum.state(),
            "params": int(sum(p.numel() for p in model.policy.parameters()))}


def validate_sb3(model, kinds: tuple[str, ...], episodes_per_level: int, seed: int) -> dict:
    from planner.training.data import run_episodes, success_by_level, validation_scenarios
    from planner.training.envs import ScenarioMixEnv
    envs = [ScenarioMixEnv(kinds, (), seed=seed + i, split="val") for i in range(4)]

    def act(lidar: np.ndarray, state: np.ndarray) -> np.ndarray:
        return model.predict({"lidar": lidar, "state": state}, deterministic=True)[0]
    try:
        _, episodes = run_episodes(envs, iter(validation_scenarios(envs[0], episodes_per_level)), act,
                                   expert_prob=0.0, record=False)
    finally:
        for e in envs:
            e.close()
    return {"success": float(np.mean([e.outcome == "success" for e in episodes])) if episodes else 0.0,
            "episodes": len(episodes), "by_level": success_by_level(episodes)}


DEFAULT_BASELINE = "models/weights/sb3_mlp.zip"


class SB3MlpPlanner:
    """The trained SB3 MLP policy as an evaluation planner (`planner eval --planner sb3-mlp`):
    same interface as sim.dwa.DWAPlanner (reset(env), act(env, summary) -> (v, w))."""

    name = "sb3-mlp"

    def __init__(self, path: str | Path = DEFAULT_BASELINE):
        from stable_baselines3 import PPO

        from planner.errors import ModelLoadError
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"SB3 baseline not found: {path} (train it: planner train --stages baseline)")
        # Our own training output (SB3's zip pickles its policy class): load only files you trust.
        self.model = PPO.load(path, device="cpu")
        self.table = None
        # The input it was trained on: the simulator's default sensing.
        self.model_input = ModelInput(draw_motion=SensingConfig().motion_lookahead > 0)

    def reset(self, env) -> None:
        self.table = env.unwrapped.table
        self.model_input.reset()

    def act(self, env, summary) -> tuple[float, float]:
        lidar, _ = self.model_input(summary)
        obs = {"lidar": lidar[None], "state": summary.state[None]}
        a = int(self.model.predict(obs, deterministic=True)[0][0])
        v, w = (self.table if self.table is not None else env.unwrapped.table)[a]
        return float(v), float(w)
