"""`planner train`, top to bottom: imitation -> PPO -> curriculum (-> the SB3 MLP baseline), each stage
resumable from its last checkpoint, then the best validated model is exported (and shipped with --ship).

Run directory layout (`--out runs/X`):
  state.json                      what finished, env steps and wall time per stage, validation results
  imitation/data_<phase>.npz      expert-labelled data (phase 0 = expert, 1.. = DAgger rounds)
  imitation/ckpt.pt, model.pt     resumable checkpoint (per epoch) / final imitation model
  rl/, curriculum/                SB3 ckpt.zip + ckpt.json (resumable), model.pt, progress.csv, TensorBoard
  baseline/sb3_mlp.zip            the SB3 PPO MLP baseline
  final/                          mini.pt, mini.fp32.onnx, mini.int8.onnx, mini.card.json
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from planner.errors import PlannerError
from planner.report import Progress
from planner.training.config import TrainConfig
from planner.training.data import Dataset, random_scenarios, run_episodes, success_by_level, validation_scenarios
from planner.training.envs import ScenarioMixEnv, available_kinds
from planner.training.logs import MetricsLog, read_json, write_json
from planner.training.modelio import build_model, load_model, save_model
from planner.training.verified import VerifiedLearner

log = logging.getLogger("planner.train")

STAGES = ("imitation", "rl", "curriculum", "baseline")


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(threads)


def validate(model: torch.nn.Module, kinds: tuple[str, ...], levels: tuple[int, ...], episodes_per_level: int,
             lockstep: int, seed: int) -> dict:
    """Greedy policy on the fixed VAL scenarios: success/collision per family and level, and overall."""
    from planner.training.imitation import make_act_fn
    envs = [ScenarioMixEnv(kinds, levels, seed=seed + i, split="val") for i in range(lockstep)]
    try:
        scenarios = validation_scenarios(envs[0], episodes_per_level)
        _, episodes = run_episodes(envs, iter(scenarios), make_act_fn(model), expert_prob=0.0, record=False)
    finally:
        for e in envs:
            e.close()
    by_level = success_by_level(episodes)
    overall = float(np.mean([e.outcome == "success" for e in episodes])) if episodes else 0.0
    return {"success": overall, "episodes": len(episodes), "by_level": by_level}


class Pipeline:
    def __init__(self, cfg: TrainConfig, out: Path, resume: bool = False):
        self.cfg, self.out = cfg, Path(out)
        state_path = self.out / "state.json"
        if state_path.exists() and not resume:
            raise PlannerError(f"{self.out} already holds a run; pass --resume to continue it or choose --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = read_json(state_path, {"stages": {}})
        self.state["config"] = dataclasses.asdict(cfg)
        self.kinds = available_kinds(cfg.imitation.envs)
        if "drive" in cfg.imitation.envs and "drive" not in self.kinds:
            log.warning("planner/Drive-v0 is not available in this install: training on Nav only")
        self.state["kinds"] = list(self.kinds)
        seed_everything(cfg.seed, cfg.torch_threads)

    def save_state(self) -> None:
        write_json(self.out / "state.json", self.state)

    def stage_done(self, name: str) -> bool:
        return bool(self.state["stages"].get(name, {}).get("done"))

    def run(self, stages: tuple[str, ...]) -> dict:
        for name in stages:
            if name not in STAGES:
                raise PlannerError(f"unknown stage '{name}' (stages: {', '.join(STAGES)})")
        for name in STAGES:
            if name not in stages:
                continue
            if self.stage_done(name):
                log.info("stage %s already done in %s: skipped", name, self.out)
                continue
            t0 = time.monotonic()
            prior = self.state["stages"].get(name, {})
            log.info("stage %s: start", name)
            result = getattr(self, f"run_{name}")()
            result["wall_s"] = prior.get("wall_s", 0.0) + time.monotonic() - t0
            result["done"] = True
            self.state["stages"][name] = result
            self.save_state()
            log.info("stage %s: done in %.0f s (%s)", name, result["wall_s"],
                     {k: v for k, v in result.items() if k in ("env_steps", "val_success")})
        return self.state

    # ---- stage 1: imitation (+ DAgger) -------------------------------------------------------------
    def run_imitation(self) -> dict:
        from planner.training.imitation import make_act_fn, train_epochs
        cfg, d = self.cfg.imitation, self.out / "imitation"
        d.mkdir(exist_ok=True)
        metrics = MetricsLog(d)
        model = build_model(self.cfg.model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        start_phase, start_epoch, step = 0, 0, 0
        if (d / "ckpt.pt").exists():
            ck = torch.load(d / "ckpt.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            start_phase, start_epoch = ck["phase"], ck["epoch"] + 1
            step = ck["step"]
            log.info("imitation: resuming at phase %d epoch %d", start_phase, start_epoch)
        path_head = _path_head(model)
        datasets: list[Dataset] = []
        for phase in range(cfg.dagger_rounds + 1):
            data_path = d / f"data_{phase}.npz"
            if not data_path.exists():
                n_samples = cfg.expert_samples if phase == 0 else cfg.dagger_samples
                expert_prob = 1.0 if phase == 0 else cfg.dagger_expert_prob[phase - 1]
                envs = [ScenarioMixEnv(self.kinds, cfg.levels, seed=self.cfg.seed * 1000 + 100 * phase + i,
                                       reward=self.cfg.reward, reward_scale=self.cfg.reward_scale,
                                       nav_kwargs={"expert_mover_margin": cfg.expert_mover_margin})
                        for i in range(cfg.lockstep_envs)]
                for e in envs:
                    e.set_schedule(e.family_schedule(cfg.drive_fraction))
                desc = "expert data" if phase == 0 else f"DAgger round {phase} (expert p={expert_prob})"
                learner = None
                if phase > 0:
                    learner = (VerifiedLearner(model, len(envs), families=cfg.dagger_verify) if cfg.dagger_verify
                               else make_act_fn(model))
                with Progress(n_samples, desc) as bar:
                    data, episodes = run_episodes(
                        envs, random_scenarios(), learner,
                        expert_prob=expert_prob, gamma=cfg.gamma, max_samples=n_samples,
                        rng=np.random.default_rng([self.cfg.seed, phase]),
                        on_episode=lambda ep: bar.update(ep.steps, outcome=ep.outcome))
                steps = sum(e.steps_taken for e in envs)
                for e in envs:
                    e.close()
                if phase == 0 and cfg.expert_success_only:
                    data = data.select(data.success)       # clone what the expert does well
                data.save(data_path)
                ok = float(np.mean([e.outcome == "success" for e in episodes]))
                metrics.log(phase, **{"data/episode_success": ok, "data/samples": len(data),
                                      "data/env_steps": steps})
                write_json(d / f"data_{phase}.json", {"env_steps": steps, "samples": len(data),
                                                      "episodes": len(episodes), "episode_success": ok})
                log.info("%s: %d samples, %d episodes, success of the executed policy %.3f%s",
                         desc, len(data), len(episodes), ok,
                         f", learner decisions {learner.counts}" if isinstance(learner, VerifiedLearner) else "")
            datasets.append(Dataset.load(data_path))
            if phase < start_phase:
                continue
            data = Dataset.concat(datasets)
            targets = path_head(data) if path_head else None
            epochs = cfg.epochs if phase == 0 else cfg.dagger_epochs[phase - 1]
            first = start_epoch if phase == start_phase else 0

            def on_epoch(epoch: int, stats: dict, phase: int = phase) -> None:
                nonlocal step
                step += 1
                metrics.log(step, **{f"imitation/{k}": v for k, v in stats.items()})
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "phase": phase,
                            "epoch": epoch, "step": step}, d / "ckpt.tmp")
                (d / "ckpt.tmp").replace(d / "ckpt.pt")
                log.info("imitation phase %d epoch %d/%d: %s", phase, epoch + 1, epochs,
                         " ".join(f"{k}={v:.4g}" for k, v in stats.items()))

            for group in optimizer.param_groups:    # later rounds fine-tune: a smaller step each phase
                group["lr"] = cfg.lr * cfg.lr_decay ** phase
            if first < epochs:
                with Progress(len(data) * (epochs - first), f"imitation phase {phase} training") as bar:
                    train_epochs(model, optimizer, data, epochs, cfg.batch_size, cfg.value_coef, cfg.path_coef,
                                 np.random.default_rng([self.cfg.seed, phase, first]), start_epoch=first,
                                 on_batch=lambda n, s: bar.update(n, acc=s["accuracy"]), on_epoch=on_epoch,
                                 path_target=targets)
        val = validate(model, self.kinds, cfg.levels, cfg.val_episodes_per_level, cfg.lockstep_envs, self.cfg.seed)
        metrics.log(step, **{"val/success": val["success"]})
        metrics.close()
        env_steps = sum(read_json(d / f"data_{p}.json")["env_steps"] for p in range(cfg.dagger_rounds + 1))
        save_model(model, d / "model.pt", training=self._provenance("imitation", env_steps),
                   metrics={"val": val})
        return {"env_steps": int(env_steps), "samples": int(sum(len(x) for x in datasets)),
                "val_success": val["success"], "val": val}

    # ---- stages 2 and 3: PPO --------------------------------------------------------------------------
    def _make_venv(self, n_envs: int, kind: str, levels: tuple[int, ...], seed: int):
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
        kinds = self.kinds

        def factory(i: int):
            def make():
                env = ScenarioMixEnv(kinds, levels, seed=seed + i, reward=self.cfg.reward,
                                     reward_scale=self.cfg.reward_scale)
                env.set_schedule(env.family_schedule(self.cfg.rl.drive_fraction))
                return Monitor(env)
            return make
        fns = [factory(i) for i in range(n_envs)]
        return SubprocVecEnv(fns) if kind == "subproc" else DummyVecEnv(fns)

    def _ppo_stage(self, name: str, init: Path, env_steps: int, lr: float, kl_coef: float, anneal: float,
                   checkpoint_every: int, val_episodes: int, curriculum=None) -> dict:
        from stable_baselines3.common.logger import configure

        from planner.training.curriculum import TrainingCallback
        from planner.training.ppo import AnchoredPPO, MiniReasonerPolicy
        rl, d = self.cfg.rl, self.out / name
        d.mkdir(exist_ok=True)
        levels = rl.levels if curriculum is None else ()
        venv = self._make_venv(rl.n_envs, rl.vec_env, levels, self.cfg.seed * 1000 + (500 if curriculum else 300))
        init_model = load_model(init)
        ckpt = read_json(d / "ckpt.json")
        if ckpt and (d / "ckpt.zip").exists():
            model = AnchoredPPO.load(d / "ckpt.zip", env=venv, device="cpu")
            if curriculum is not None and ckpt.get("curriculum"):
                curriculum.load_state(ckpt["curriculum"])
            log.info("%s: resuming at %d env steps", name, model.num_timesteps)
        else:
            model = AnchoredPPO(MiniReasonerPolicy, venv, learning_rate=lr, n_steps=rl.n_steps,
                                batch_size=rl.batch_size, n_epochs=rl.n_epochs, gamma=rl.gamma,
                                gae_lambda=rl.gae_lambda, clip_range=rl.clip_range, ent_coef=rl.ent_coef,
                                vf_coef=rl.vf_coef, max_grad_norm=rl.max_grad_norm, seed=self.cfg.seed,
                                policy_kwargs={"reasoner_config": init_model.cfg.to_dict()},
                                device="cpu")
            model.policy.reasoner.load_state_dict(init_model.state_dict())
        model.set_logger(configure(str(d), ["csv", "tensorboard"]))
        anchor = load_model(self.out / "imitation" / "model.pt") if (self.out / "imitation" / "model.pt").exists() else None
        model.set_anchor(anchor, kl_coef, anneal, env_steps)
        callback = TrainingCallback(d, env_steps, checkpoint_every, f"{name} PPO", curriculum=curriculum)
        remaining = env_steps - model.num_timesteps
        if remaining > 0:
            model.learn(remaining, callback=callback, reset_num_timesteps=False)
        callback.save_checkpoint()
        steps = int(model.num_timesteps)
        venv.close()
        val = validate(model.policy.reasoner, self.kinds, levels, val_episodes, self.cfg.imitation.lockstep_envs,
                       self.cfg.seed)
        save_model(model.policy.reasoner, d / "model.pt", training=self._provenance(name, steps),
                   metrics={"val": val})
        out = {"env_steps": steps, "val_success": val["success"], "val": val}
        if curriculum is not None:
            out["curriculum"] = curriculum.state()
        return out

    def _provenance(self, stage: str, env_steps: int) -> dict:
        return {"data": "planner train: " + "+".join(self.kinds) + " TRAIN seeds", "stage": stage,
                "stage_env_steps": int(env_steps), "run": str(self.out), "seed": self.cfg.seed,
                "command": self.state.get("command", "")}

    def _latest_model(self, before: str) -> Path:
        for name in reversed(STAGES[:STAGES.index(before)]):
            p = self.out / name / "model.pt"
            if p.exists():
                return p
        raise PlannerError(f"stage '{before}' needs an earlier stage's model in {self.out} (run imitation first)")

    def run_rl(self) -> dict:
        rl = self.cfg.rl
        return self._ppo_stage("rl", self._latest_model("rl"), rl.env_steps, rl.lr, rl.kl_coef,
                               rl.kl_anneal_fraction, rl.checkpoint_every, rl.val_episodes_per_level)

    def run_curriculum(self) -> dict:
        from planner.training.curriculum import Curriculum
        from planner.training.envs import num_levels
        c = self.cfg.curriculum
        curriculum = Curriculum({k: num_levels(k) - 1 for k in self.kinds}, c.start_level, c.success_threshold,
                                c.window, c.review_fraction, c.drive_fraction)
        return self._ppo_stage("curriculum", self._latest_model("curriculum"), c.env_steps, c.lr, c.kl_coef,
                               c.kl_anneal_fraction, c.checkpoint_every, c.val_episodes_per_level, curriculum)

    def pipeline_env_steps(self) -> int:
        return int(sum(self.state["stages"].get(s, {}).get("env_steps", 0) for s in ("imitation", "rl", "curriculum")))

    def run_baseline(self) -> dict:
        from planner.training.baseline_mlp import train_baseline
        steps = self.pipeline_env_steps()
        if steps <= 0:
            raise PlannerError("the baseline is matched to the pipeline's env steps: run the other stages first")
        return train_baseline(self.cfg, self.out / "baseline", steps, self.kinds)

    # ---- the shipped model ----------------------------------------------------------------------------
    def best_model(self) -> tuple[str, Path]:
        """The stage whose model validated best (ties go to the later stage)."""
        best = None
        for name in ("imitation", "rl", "curriculum"):
            s = self.state["stages"].get(name, {})
            if s.get("done") and (self.out / name / "model.pt").exists():
                if best is None or s["val_success"] >= best[0]:
                    best = (s["val_success"], name)
        if best is None:
            raise PlannerError(f"no finished stage with a model in {self.out}")
        return best[1], self.out / best[1] / "model.pt"

    def export(self, ship_to: Path | None = None) -> dict:
        """Export the best validated model (torch + fp32/int8 ONNX + card) to <out>/final, and copy it
        (and the SB3 MLP baseline) to `ship_to` when given."""
        from planner.export import export_model
        stage, path = self.best_model()
        model = load_model(path)
        stages = {k: {kk: vv for kk, vv in v.items() if kk != "val"} for k, v in self.state["stages"].items()}
        training = {"data": "planner/Nav-v0" + (" + planner/Drive-v0" if "drive" in self.kinds else "")
                            + " TRAIN seeds; expert labels, DAgger, PPO, curriculum (planner train)",
                    "stages": stages, "selected_stage": stage, "env_steps": self.pipeline_env_steps(),
                    "wall_s": round(sum(v.get("wall_s", 0.0) for v in self.state["stages"].values()), 1),
                    "seed": self.cfg.seed, "command": self.state.get("command", "")}
        val = self.state["stages"][stage].get("val", {})
        metrics = {"val_success": val.get("success"), "val_by_level": val.get("by_level"),
                   "val_split": "VAL seeds (sim.worlds.VAL_SEEDS), greedy torch policy, no verifier"}
        card = export_model(model, self.out / "final", name="mini", preset=self.cfg.model,
                            training=training, metrics=metrics)
        # The same weights run with dense attention: the eval's "minireasoner-dense" ablation.
        export_model(model, self.out / "final", name="mini-dense", preset=self.cfg.model, sparse=False,
                     training=training, metrics=metrics)
        files = sorted(p for p in card.parent.glob("mini*") if not p.name.endswith(".tmp"))
        self.state["export"] = {"stage": stage, "files": [str(f) for f in files]}
        if ship_to is not None:
            ship_to = Path(ship_to)
            ship_to.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy2(f, ship_to / f.name)
            if (self.out / "baseline" / "sb3_mlp.zip").exists():
                shutil.copy2(self.out / "baseline" / "sb3_mlp.zip", ship_to / "sb3_mlp.zip")
            self.state["export"]["shipped_to"] = str(ship_to)
        self.save_state()
        return self.state["export"]


def _path_head(model: torch.nn.Module):
    """A function data -> path targets when the model has a path head with a known horizon, else None."""
    cfg = getattr(model, "cfg", None)
    n_points = getattr(cfg, "path_points", None)
    horizon = getattr(cfg, "path_horizon", None)
    if not n_points or not horizon:
        return None
    from planner.training.paths import primitive_paths
    dt = float(horizon) / int(n_points)
    return lambda data: primitive_paths(data.label, data.state, int(n_points), float(horizon), dt)

