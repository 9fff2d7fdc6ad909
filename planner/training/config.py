"""Typed training configuration, loaded from config/train.yaml (the one visible place for every
hyperparameter). A budget (`default`, `smoke`) is the `default` section with the budget's keys merged in."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path


from planner.config import ConfigError, from_dict, read_yaml, require

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "train.yaml"


@dataclass(frozen=True)
class ImitationConfig:
    envs: tuple[str, ...] = ("nav", "drive")
    drive_fraction: float = 0.3
    levels: tuple[int, ...] = ()
    expert_samples: int = 40000
    expert_success_only: bool = True
    dagger_rounds: int = 2
    dagger_samples: int = 12000
    dagger_expert_prob: tuple[float, ...] = (0.5, 0.2)
    epochs: int = 6
    dagger_epochs: tuple[int, ...] = (2, 2, 1, 1)
    dagger_verify: tuple[str, ...] = ()  # families ("nav", "drive") whose DAgger rollouts drive the learner
                                         # through the runtime's verifier
    expert_mover_margin: float = 0.15  # m the labelling Nav expert keeps from movers (sim.expert.MOVER_MARGIN = 0.15)
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 1.0          # the learning rate of phase p (0 = expert data, 1.. = DAgger rounds) is lr * lr_decay**p
    weight_decay: float = 1e-4
    value_coef: float = 0.5
    path_coef: float = 0.1
    gamma: float = 0.99
    lockstep_envs: int = 8
    val_episodes_per_level: int = 10

    def validate(self) -> None:
        require(set(self.envs) <= {"nav", "drive"} and "nav" in self.envs, "imitation.envs: 'nav' [, 'drive']")
        require(0 <= self.drive_fraction <= 1, "imitation.drive_fraction must be in [0, 1]")
        require(set(self.dagger_verify) <= set(self.envs), "imitation.dagger_verify: a subset of imitation.envs")
        require(self.expert_samples > 0 and self.epochs > 0, "imitation needs samples and epochs")
        require(len(self.dagger_expert_prob) >= self.dagger_rounds and len(self.dagger_epochs) >= self.dagger_rounds,
                "imitation.dagger_expert_prob and dagger_epochs need one entry per DAgger round")
        require(all(0 <= p <= 1 for p in self.dagger_expert_prob), "dagger_expert_prob in [0, 1]")
        require(self.lr > 0 and self.batch_size > 0 and self.lockstep_envs > 0, "lr, batch, envs > 0")
        require(0 < self.lr_decay <= 1, "imitation.lr_decay must be in (0, 1]")
        require(0 <= self.expert_mover_margin <= 2, "imitation.expert_mover_margin must be in [0, 2] m")
        require(0 < self.gamma <= 1, "gamma must be in (0, 1]")


@dataclass(frozen=True)
class RLConfig:
    env_steps: int = 60000
    n_envs: int = 4
    vec_env: str = "dummy"
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 4
    lr: float = 1e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.1
    ent_coef: float = 0.001
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    kl_coef: float = 1.0
    kl_anneal_fraction: float = 0.6
    levels: tuple[int, ...] = ()
    drive_fraction: float = 0.3
    checkpoint_every: int = 8192
    val_episodes_per_level: int = 10

    def validate(self) -> None:
        require(self.env_steps >= 0 and self.n_envs > 0 and self.n_steps > 0, "rl: steps and envs > 0")
        require(self.vec_env in ("dummy", "subproc"), "rl.vec_env must be 'dummy' or 'subproc'")
        require(self.kl_coef >= 0 and 0 < self.kl_anneal_fraction <= 1, "rl: kl_coef >= 0, anneal in (0, 1]")


@dataclass(frozen=True)
class CurriculumConfig:
    env_steps: int = 60000
    start_level: int = 0
    success_threshold: float = 0.9
    window: int = 40
    review_fraction: float = 0.3
    drive_fraction: float = 0.3
    kl_coef: float = 0.2
    kl_anneal_fraction: float = 1.0
    lr: float = 5e-5
    checkpoint_every: int = 8192
    val_episodes_per_level: int = 10

    def validate(self) -> None:
        require(0 < self.success_threshold <= 1, "curriculum.success_threshold must be in (0, 1]")
        require(self.window > 0 and 0 <= self.review_fraction < 1, "curriculum: window > 0, review in [0, 1)")


@dataclass(frozen=True)
class BaselineConfig:
    net_arch: tuple[int, ...] = (256, 256)
    n_envs: int = 4
    n_steps: int = 512
    batch_size: int = 256
    n_epochs: int = 10
    lr: float = 3e-4
    ent_coef: float = 0.01
    drive_fraction: float = 0.3


@dataclass(frozen=True)
class FinetuneConfig:
    samples: int = 3000
    dagger_rounds: int = 1
    dagger_samples: int = 2000
    epochs: int = 8
    lr: float = 3e-4
    batch_size: int = 128
    episodes: int = 10


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    torch_threads: int = 1
    model: str = "mini"
    reward: dict = field(default_factory=dict)
    reward_scale: float = 0.1
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def validate(self) -> None:
        require(self.torch_threads >= 1, "torch_threads must be >= 1")
        require(self.reward_scale > 0, "reward_scale must be positive")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def load_train_config(budget: str = "default", path: str | Path = DEFAULT_CONFIG,
                      seed: int | None = None) -> TrainConfig:
    """The `default` section of `path`, with section `budget` merged over it."""
    path = Path(path)
    data = read_yaml(path, "training config") or {}
    if "default" not in data:
        raise ConfigError(f"{path}: missing section 'default'")
    if budget not in data:
        raise ConfigError(f"{path}: unknown budget '{budget}' (have: {', '.join(sorted(data))})")
    merged = data["default"] if budget == "default" else _merge(data["default"], data[budget] or {})
    try:
        cfg = from_dict(TrainConfig, merged)
    except ConfigError as exc:
        raise ConfigError(f"{path} [{budget}]: {exc}") from None
    return cfg if seed is None else replace(cfg, seed=seed)
