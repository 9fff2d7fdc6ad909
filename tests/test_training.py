"""Training pipeline (issue 5): each stage runs on the smoke budget, checkpoints, and resumes from its
checkpoint; the curriculum climbs; the PPO policy is the MiniReasoner. Real PyBullet envs, real SB3."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from planner.cli import main
from planner.training.config import load_train_config
from planner.training.curriculum import Curriculum
from planner.training.logs import read_json, write_json
from planner.training.pipeline import Pipeline


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke-budget run of imitation + rl (shared by the tests below: it is the slow part)."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("run")
    cfg = load_train_config("smoke")
    pipeline = Pipeline(cfg, out)
    state = pipeline.run(("imitation", "rl"))
    return cfg, out, state


def test_imitation_stage_writes_data_checkpoint_logs(smoke_run):
    cfg, out, state = smoke_run
    s = state["stages"]["imitation"]
    assert s["done"] and s["env_steps"] >= cfg.imitation.expert_samples
    d = out / "imitation"
    for name in ("data_0.npz", "data_1.npz", "ckpt.pt", "model.pt", "metrics.csv"):
        assert (d / name).is_file(), name
    assert list(d.glob("events.out.tfevents.*")), "no TensorBoard log"
    ck = torch.load(d / "ckpt.pt", weights_only=True)
    assert ck["phase"] == cfg.imitation.dagger_rounds and ck["epoch"] == cfg.imitation.dagger_epochs[-1] - 1
    with np.load(d / "data_0.npz") as z:
        assert z["lidar"].shape[1] == 64 and z["state"].shape[1] == 12
        assert z["label"].min() >= 0 and z["label"].max() < 39
        assert z["success"].all()            # expert_success_only keeps the expert's good episodes
        # Monte-Carlo returns: the last step of a successful episode carries the success reward.
        assert z["ret"].max() >= cfg.reward["success"] * cfg.reward_scale * 0.5
    assert set(s["val"]["by_level"]) == {"nav/L0", "nav/L1"}


def test_imitation_resumes_from_checkpoint_without_redoing_work(smoke_run, caplog):
    cfg, out, state = smoke_run
    d = out / "imitation"
    data_mtime = (d / "data_0.npz").stat().st_mtime_ns
    saved = read_json(out / "state.json")
    saved["stages"]["imitation"]["done"] = False          # as if killed after the last checkpoint
    write_json(out / "state.json", saved)
    with caplog.at_level("INFO"):
        Pipeline(cfg, out, resume=True).run(("imitation",))
    assert "imitation: resuming at phase" in caplog.text
    assert "expert data" not in caplog.text                 # no data collected again
    assert (d / "data_0.npz").stat().st_mtime_ns == data_mtime


def test_rl_stage_is_sb3_ppo_on_minireasoner_and_resumes(smoke_run, caplog):
    from planner.training.ppo import AnchoredPPO, MiniReasonerPolicy
    cfg, out, state = smoke_run
    d = out / "rl"
    assert state["stages"]["rl"]["env_steps"] >= cfg.rl.env_steps
    assert (d / "ckpt.zip").is_file() and (d / "progress.csv").is_file()
    model = AnchoredPPO.load(d / "ckpt.zip", device="cpu")
    assert isinstance(model.policy, MiniReasonerPolicy)
    # The policy's distribution is exactly the model's logits (no extra MLP heads).
    obs = {"lidar": torch.rand(5, 64), "state": torch.rand(5, 12) * 2 - 1}
    logits = model.policy.reasoner(obs["lidar"], obs["state"])["logits"]
    probs = model.policy.get_distribution(obs).distribution.probs
    assert torch.allclose(probs, logits.softmax(-1), atol=1e-5)
    # Resume: a longer budget continues from the checkpoint's step count instead of starting over.
    before = model.num_timesteps
    longer = dataclasses.replace(cfg, rl=dataclasses.replace(cfg.rl, env_steps=before + 64))
    saved = read_json(out / "state.json")
    saved["stages"]["rl"]["done"] = False
    write_json(out / "state.json", saved)
    with caplog.at_level("INFO"):
        state2 = Pipeline(longer, out, resume=True).run(("rl",))
    assert f"rl: resuming at {before} env steps" in caplog.text
    assert before + 64 <= state2["stages"]["rl"]["env_steps"] < 2 * before + 64


def test_anchor_coefficient_decays_to_zero(smoke_run):
    from planner.training.ppo import AnchoredPPO
    _, out, _ = smoke_run
    model = AnchoredPPO.load(out / "rl" / "ckpt.zip", device="cpu")
    model.set_anchor(model.policy.reasoner, kl_coef=2.0, anneal_fraction=0.5, stage_steps=1000)
    coefs = []
    for t in (0, 250, 500, 900):
        model.num_timesteps = t
        coefs.append(model.anchor_coef())
    assert coefs == pytest.approx([2.0, 1.0, 0.0, 0.0])


def test_curriculum_stage_and_export(smoke_run, tmp_path):
    cfg, out, _ = smoke_run
    pipeline = Pipeline(cfg, out, resume=True)
    state = pipeline.run(("curriculum",))
    c = state["stages"]["curriculum"]
    assert c["done"] and "level" in c["curriculum"]
    export = pipeline.export(tmp_path / "ship")
    names = {p.name for p in (tmp_path / "ship").iterdir()}
    assert {"mini.pt", "mini.fp32.onnx", "mini.int8.onnx", "mini.card.json"} <= names
    card = json.loads((tmp_path / "ship" / "mini.card.json").read_text())
    assert card["training"]["selected_stage"] == export["stage"]
    assert card["training"]["env_steps"] == pipeline.pipeline_env_steps() > 0


def test_curriculum_level_rises_on_success_and_keeps_review():
    c = Curriculum({"nav": 5}, start_level=0, success_threshold=0.8, window=5, review_fraction=0.3,
                   drive_fraction=0.3)
    assert c.schedule() == {("nav", 0): 1.0}
    for i in range(4):
        assert not c.record("nav", 0, True, i)
    assert c.record("nav", 0, True, 4) and c.level["nav"] == 1
    assert not c.record("nav", 0, True, 5)              # review episodes do not count for the level
    for i in range(5):
        c.record("nav", 1, i % 2 == 0, 10 + i)         # 60% < 80%: stays
    assert c.level["nav"] == 1
    s = c.schedule()
    assert s[("nav", 1)] == pytest.approx(0.7) and s[("nav", 0)] == pytest.approx(0.3)
    restored = Curriculum({"nav": 5}, 0, 0.8, 5, 0.3, 0.3)
    restored.load_state(json.loads(json.dumps(c.state())))
    assert restored.level == c.level and restored.history == c.history


def test_train_cli_refuses_to_overwrite_and_rejects_bad_input(tmp_path, capsys):
    (tmp_path / "state.json").write_text("{}")
    assert main(["train", "--budget", "smoke", "--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--budget", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown budget" in capsys.readouterr().err
    assert main(["train", "--budget", "smoke", "--out", str(tmp_path / "y"), "--stages", "dance"]) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_finetune_cli_adapts_to_a_user_map_and_reports_before_after(smoke_run, tmp_path, capsys):
    _, out, _ = smoke_run
    rc = main(["finetune", "--maps", "tests/data/small_map.yaml", "--model", str(out / "imitation" / "model.pt"),
               "--out", str(tmp_path / "ft"), "--budget", "smoke", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["before"]) == set(result["after"]) == {"small_map", "all"}
    assert result["map_samples"] > 0 and result["eval_tasks"] == 2
    assert (tmp_path / "ft" / "mini.card.json").is_file() and (tmp_path / "ft" / "mini.int8.onnx").is_file()
    assert main(["finetune", "--maps", str(tmp_path / "missing.yaml")]) == 2


def test_ppo_policy_log_probs_do_not_depend_on_sb3_train_mode():
    """SB3 collects rollouts in eval mode and updates in train mode: both must give the same log-probs,
    or the PPO ratio is wrong from the first update."""
    import gymnasium
    import torch

    import sim  # noqa: F401  (registers the envs)
    from planner.training.ppo import MiniReasonerPolicy

    env = gymnasium.make("planner/Nav-v0", level=1)
    obs, _ = env.reset(seed=3)
    policy = MiniReasonerPolicy(env.observation_space, env.action_space, lambda _: 1e-4)
    batch = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
    actions = torch.arange(3)
    batch3 = {k: v.repeat(3, 1) for k, v in batch.items()}
    policy.set_training_mode(False)
    with torch.no_grad():
        _, logp_rollout, _ = policy.evaluate_actions(batch3, actions)
    policy.set_training_mode(True)
    with torch.no_grad():
        _, logp_update, _ = policy.evaluate_actions(batch3, actions)
    torch.testing.assert_close(logp_rollout, logp_update)
    env.close()


def test_finetune_loads_a_model_card_like_every_other_command(tmp_path):
    from planner.export import export_untrained
    from planner.training.modelio import load_model
    from planner.errors import ModelLoadError

    card = export_untrained(tmp_path / "m")
    model = load_model(card)
    assert sum(p.numel() for p in model.parameters()) > 0
    pt = next((tmp_path / "m").glob("*.pt"))
    pt.write_bytes(pt.read_bytes()[:100])            # truncated weights: the card's hash catches it
    with pytest.raises(ModelLoadError):
        load_model(card)


def _rollout_digest(env, episodes: int = 3, steps: int = 30) -> list[bytes]:
    """Every observation of a few fixed-action episodes, as bytes."""
    out = []
    for _ in range(episodes):
        obs, _ = env.reset()
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(4)
            out.append(b"".join(np.asarray(v).tobytes() for v in obs.values()))
            if terminated or truncated:
                break
    return out


def test_training_envs_repeat_exactly_for_a_seed():
    """The same seed gives the same scenarios AND the same sensor noise: an unseeded inner env drew its
    lidar noise from OS entropy, so no two training runs were alike (BENCHMARKS, session 10)."""
    from planner.training.envs import ScenarioMixEnv
    a, b, c = (ScenarioMixEnv(("nav", "drive"), (), seed=s) for s in (5, 5, 6))
    try:
        first = _rollout_digest(a)
        assert first == _rollout_digest(b)
        assert first != _rollout_digest(c)
    finally:
        for e in (a, b, c):
            e.close()


def test_two_runs_with_the_same_config_give_the_same_model(tmp_path):
    """`planner train` is seeded: imitation (expert data, DAgger) and PPO (SB3 subprocess-free on the smoke
    budget) repeat bit for bit. (Not the module's smoke_run: other tests resume it from cut checkpoints.)"""
    cfg = load_train_config("smoke")
    runs = [Pipeline(cfg, tmp_path / name).run(("imitation", "rl")) for name in ("a", "b")]
    for stage in ("imitation", "rl"):
        assert runs[0]["stages"][stage]["val_success"] == runs[1]["stages"][stage]["val_success"]
        s1, s2 = (torch.load(tmp_path / name / stage / "model.pt", weights_only=False)["model"] for name in ("a", "b"))
        assert s1.keys() == s2.keys()
        for k in s1:
            assert torch.equal(s1[k], s2[k]), f"{stage}: {k} differs between two runs"
