"""Which SB3 vector env is faster here: `python -m planner.training.vecbench [--steps N] [--json]`.

PPO on MiniReasoner (the real training step: rollout collection + update), DummyVecEnv versus
SubprocVecEnv with the same n_envs, measured alternately in one run (the machine is shared and noisy)."""
from __future__ import annotations

import argparse
import time


def measure(kind: str, n_envs: int, steps: int, seed: int = 0) -> float:
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from planner.training.envs import ScenarioMixEnv
    from planner.training.ppo import AnchoredPPO, MiniReasonerPolicy
    torch.set_num_threads(1)
    fns = [lambda i=i: ScenarioMixEnv(("nav",), (), seed=seed + i) for i in range(n_envs)]
    venv = SubprocVecEnv(fns) if kind == "subproc" else DummyVecEnv(fns)
    model = AnchoredPPO(MiniReasonerPolicy, venv, n_steps=steps // n_envs, batch_size=256, n_epochs=1,
                        seed=seed, device="cpu")
    t0 = time.perf_counter()
    model.learn(steps)
    dt = time.perf_counter() - t0
    venv.close()
    return steps / dt


def main() -> None:
    from planner.report import emit, format_table, machine_info
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--n-envs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    rates: dict[str, list[float]] = {"dummy": [], "subproc": []}
    for _ in range(a.repeats):
        for kind in rates:
            rates[kind].append(measure(kind, a.n_envs, a.steps))
    best = {k: max(v) for k, v in rates.items()}
    result = {"steps_per_s": rates, "best": best, "subproc_over_dummy": best["subproc"] / best["dummy"],
              "n_envs": a.n_envs, "steps": a.steps, "machine": machine_info()}
    emit(result, format_table([[k, *v, best[k]] for k, v in rates.items()],
                              ["vec env", *[f"run {i + 1}" for i in range(a.repeats)], "best steps/s"]), a.json)


if __name__ == "__main__":
    main()
