"""`planner bench latency`: per-decision latency of every MiniReasoner variant, side by side.

Variants: {mini, seed} x {sparse, dense attention} x {torch fp32, ORT fp32, ORT int8}, each a real
exported model loaded by the real `Planner`. They are timed round-robin in short blocks (10 decisions
of each variant in turn, over and over) in one process on one thread, so machine noise hits them alike. Every timed
decision runs to the refinement cap (worst case: early exit disabled) with the verifier on; we report
the network's time ("model") and the whole `decide()` ("decide") as p50 / p99 / max.

Also: attention FLOPs sparse vs dense, parameter counts and reuse, and int8-vs-fp32 decision agreement
on validation summaries from the simulator (planner/Nav-v0, val split, expert-driven episodes).
Latency does not depend on the weights, so the variants are random-initialised exports; agreement
does, so it is measured on the shipped model (models/weights) when one is there, and says which.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

HELP = "Per-decision latency (torch/ORT fp32/ORT int8, sparse/dense, mini/seed), attention FLOPs, int8 agreement."
log = logging.getLogger("planner.bench")

SHIPPED_CARD = "models/weights/mini.card.json"
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
TARGETS = {"mini_int8_p99_ms": 1.0, "seed_int8_p99_ms": 10.0, "mini_int8_cpu_p99_ms": 1.0,
           "seed_int8_cpu_p99_ms": 10.0, "attention_flops_removed": 0.72,
           "int8_agreement": 0.99}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decisions", type=int, default=300, help="timed decisions per variant (default 300)")
    p.add_argument("--val", type=int, default=500, help="validation summaries for the agreement (default 500)")
    p.add_argument("--configs", default="mini,seed", help="comma-separated presets (default mini,seed)")
    p.add_argument("--model", default=None,
                   help="trained model card for the agreement (default: the shipped model, or an "
                        "untrained mini when none is shipped)")
    p.add_argument("--out", default="runs/bench_latency",
                   help="directory for the JSON and PNG (default runs/bench_latency)")
    p.add_argument("--block", type=int, default=10,
                   help="consecutive decisions per variant before switching to the next one (default 10)")
    p.add_argument("--idle-ms", type=float, default=1.0,
                   help="idle ms after each decision (default 1), as in a control loop (it also keeps a "
                        "SCHED_FIFO run, e.g. under `chrt -f 50`, clear of the kernel's RT throttling)")


def validation_summaries(n: int, seed: int = 0) -> tuple[list, str]:
    """Sensor summaries from the simulator's validation worlds, driven mostly by the expert."""
    try:
        import gymnasium
        import sim  # noqa: F401  (registers planner/Nav-v0)
        from sim.worlds import NUM_LEVELS
    except ImportError as exc:
        from planner.errors import PlannerError
        raise PlannerError(f"the simulator is needed for validation summaries: {exc}") from None
    env = gymnasium.make("planner/Nav-v0", split="val")
    rng = np.random.default_rng(seed)
    out, episode = [], 0
    while len(out) < n:
        _, info = env.reset(seed=seed + episode, options={"level": episode % NUM_LEVELS})
        episode += 1
        for k in range(80):
            # Mostly the expert (the states a good policy visits), some random actions (harder states).
            a = env.unwrapped.expert_action() if rng.random() < 0.8 else int(rng.integers(env.action_space.n))
            _, _, term, trunc, info = env.step(a)
            if k % 3 == 0:
                out.append(info["summary"])
            if term or trunc or len(out) >= n:
                break
    env.close()
    return out, (f"{len(out)} summaries from planner/Nav-v0 split=val, {episode} episodes over levels "
                 f"0..{NUM_LEVELS - 1}, expert actions (80%) and random actions (20%), every 3rd step")


def agreement(card: str, summaries: list) -> dict:
    """int8 vs fp32 on the same summaries: raw network choice and the final (verified) decision."""
    from planner.runtime import Planner, RuntimeConfig
    kw = dict(model_path=card, deadline_ms=1e6)   # no deadline fallbacks: compare the answers
    p32 = Planner(RuntimeConfig(backend="onnx-fp32", **kw))
    p8 = Planner(RuntimeConfig(backend="onnx-int8", **kw))
    raw, final, margin, steps = [], [], [], []
    for s in summaries:
        a, b = p32.decide(s), p8.decide(s)
        if "logits" not in p32.last or "logits" not in p8.last:
            continue                                   # goal reached / unusable input: no network call
        steps.append(b.refine_steps)
        la = p32.last["logits"]
        top2 = np.sort(la)[-2:]
        raw.append(int(np.argmax(la)) == int(np.argmax(p8.last["logits"])))
        final.append((a.primitive, a.status) == (b.primitive, b.status))
        margin.append(top2[1] - top2[0])
    raw, final, margin = map(np.asarray, (raw, final, margin))
    clear = margin > 0.1
    return {"model": card, "trained": "untrained" not in str(p32.card["training"]),
            "training": p32.card["training"], "n": int(raw.size),
            "network_argmax": float(raw.mean()), "decision": float(final.mean()),
            "network_argmax_margin_gt_0.1": float(raw[clear].mean()) if clear.any() else None,
            "share_margin_gt_0.1": float(clear.mean()), "median_fp32_margin": float(np.median(margin)),
            # With the shipped early exit (exit_confidence from the card): how many steps decisions take.
            "int8_refine_steps": {str(k): int(v) for k, v in zip(*np.unique(steps, return_counts=True))}}


def run(args: argparse.Namespace) -> int:
    import torch

    from models.minireasoner import (PRESETS, MiniReasoner, attention_flops, measured_attention_flops,
                                     parameter_reuse)
    from planner.errors import ModelLoadError, PlannerError
    from planner.export import export_untrained, load_card
    from planner.report import Progress, emit, format_table, latency_stats, machine_info, to_json
    from planner.runtime import Planner, RuntimeConfig

    torch.set_num_threads(1)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in configs:
        if c not in PRESETS:
            raise PlannerError(f"--configs: unknown preset {c!r} (choose from {sorted(PRESETS)})")
    if args.decisions < 10 or args.val < 10 or args.block < 1:
        raise PlannerError("--decisions and --val must be >= 10, --block >= 1")
    if args.model is not None:   # a model the user named must load: fail now, not after the timing
        for backend in ("onnx-fp32", "onnx-int8"):
            Planner(RuntimeConfig(backend=backend, model_path=args.model))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    log.info("collecting %d validation summaries from the simulator", args.val)
    summaries, val_source = validation_summaries(args.val)
    # Timed summaries: the validation set minus the goal-reached / unusable ones (they skip the network).
    timed = [s for s in summaries if s.goal_distance > RuntimeConfig().goal_tolerance
             and s.valid_fraction >= 0.8]

    tmp = tempfile.TemporaryDirectory(prefix="bench_latency_")
    planners, meta = {}, {}
    for c in configs:
        for sparse in (True, False):
            attn = "sparse" if sparse else "dense"
            card = export_untrained(Path(tmp.name) / f"{c}_{attn}", c, sparse=sparse)
            for backend in BACKENDS:
                key = f"{c}/{attn}/{backend}"
                # exit_confidence=1.0: never exit early, every decision runs to the cap (worst case).
                planners[key] = Planner(RuntimeConfig(model_path=str(card), backend=backend,
                                                      exit_confidence=1.0, deadline_ms=1e6))
            meta[c] = planners[f"{c}/sparse/onnx-int8"].model_config

    samples = {k: {m: [] for m in ("model", "decide", "model_cpu", "decide_cpu")} for k in planners}
    keys = list(planners)
    block = args.block
    rounds = -(-args.decisions // block)
    with Progress(rounds, "bench latency") as progress:
        for r in range(rounds):
            order = keys[r % len(keys):] + keys[:r % len(keys)]       # rotate the order every round
            for k in order:
                p = planners[k]
                # A block of consecutive decisions per variant, as one model runs on a robot; the
                # first one after switching variants only re-warms caches and is not recorded.
                for j in range(block + 1):
                    s = timed[(r * block + j) % len(timed)]
                    lidar, state = s.lidar.reshape(1, -1), s.state.reshape(1, -1)
                    w0, c0 = time.perf_counter(), time.thread_time()
                    out = p.backend.first(lidar, state)            # the network alone, to the cap
                    for _ in range(p.max_steps - 1):
                        out = {**out, **p.backend.step(out["x"], out["z"], state)}
                    w1, c1 = time.perf_counter(), time.thread_time()
                    # Idle before each timed call, as a control loop does, so neither measurement
                    # inherits the other's scheduler debt on a loaded machine.
                    time.sleep(args.idle_ms / 1e3)
                    w2, c2 = time.perf_counter(), time.thread_time()
                    p.decide(s)                                     # the whole decision
                    w3, c3 = time.perf_counter(), time.thread_time()
                    time.sleep(args.idle_ms / 1e3)
                    if j == 0 or len(samples[k]["model"]) >= args.decisions:
                        continue
                    for m, v in (("model", w1 - w0), ("model_cpu", c1 - c0), ("decide", w3 - w2),
                                 ("decide_cpu", c3 - c2)):
                        samples[k][m].append(v * 1e3)
            progress.update()
    latency = {k: {**{m: latency_stats(v) for m, v in samples[k].items()},
                   "steps": planners[k].max_steps} for k in keys}
    del planners

    flops, params = {}, {}
    for c in configs:
        cfg = meta[c]
        model = MiniReasoner(cfg)
        flops[c] = {}
        for steps in sorted({1, cfg.max_steps}):
            sp, de = attention_flops(cfg, True, steps), attention_flops(cfg, False, steps)
            one = timed[0]
            lid, st = torch.from_numpy(one.lidar).view(1, -1), torch.from_numpy(one.state).view(1, -1)
            measured = {a: measured_attention_flops(model.eval(), lid, st, a == "sparse", steps)
                        for a in ("sparse", "dense")}
            flops[c][f"steps_{steps}"] = {
                "sparse": sp, "dense": de, "measured_scores_mix": measured,
                # From the token counts the attention calls really received (forward hooks).
                "scores_mix_removed": 1 - (measured["sparse"] + sp["scorer"]) / measured["dense"],
                "with_projections_removed": 1 - (sp["scores_mix"] + sp["scorer"] + sp["projections"])
                / (de["scores_mix"] + de["projections"])}
        params[c] = {"params": model.num_params(), "inference_hard": parameter_reuse(model, cfg.max_steps, True),
                     "training_soft": parameter_reuse(model, cfg.max_steps, False)}

    agree_card = args.model or SHIPPED_CARD
    try:
        load_card(agree_card)
    except ModelLoadError as exc:
        if args.model is not None:
            raise
        agree_card = str(export_untrained(Path(tmp.name) / "agree_mini", "mini"))
        log.warning("no shipped model (%s): agreement measured on an untrained mini", exc)
    agree = agreement(agree_card, summaries)
    tmp.cleanup()

    cap_key = lambda c: f"steps_{meta[c].max_steps}"
    checks = {}
    for c in configs:
        checks[f"{c}_int8_p99_ms"] = latency[f"{c}/sparse/onnx-int8"]["model"]["p99"]
        checks[f"{c}_int8_cpu_p99_ms"] = latency[f"{c}/sparse/onnx-int8"]["model_cpu"]["p99"]
    checks["attention_flops_removed"] = min(flops[c][cap_key(c)]["scores_mix_removed"] for c in configs)
    checks["int8_agreement"] = agree["decision"]
    result = {
        "machine": machine_info(), "threads": 1, "decisions_per_variant": args.decisions,
        "scheduling": sched_info(), "idle_ms": args.idle_ms,
        "method": f"round-robin over variants in blocks of {args.block} decisions (the first after a "
                  "switch not recorded), one thread, refinement to the cap, verifier on; "
                  "model = the network's graphs alone, decide = the whole Planner.decide(); "
                  "*_cpu = thread CPU time of the same calls (excludes time the shared machine "
                  "gave to other processes)",
        "validation": val_source, "latency_ms": latency, "attention_flops": flops, "params": params,
        "int8_agreement": agree,
        "targets": {k: {"target": TARGETS[k], "value": v,
                        "met": (v <= TARGETS[k]) if k.endswith("_ms") else (v >= TARGETS[k])}
                    for k, v in checks.items()},
    }
    (out_dir / "bench_latency.json").write_text(to_json(result) + "\n")
    plot(latency, out_dir / "bench_latency.png", result["scheduling"])

    rows = [[k, v["steps"], v["model"]["p50"], v["model"]["p99"], v["model"]["max"],
             v["model_cpu"]["p50"], v["model_cpu"]["p99"], v["decide"]["p50"], v["decide"]["p99"],
             v["decide"]["max"]] for k, v in latency.items()]
    table = format_table(rows, ["variant", "steps", "model p50", "model p99", "model max", "cpu p50",
                                "cpu p99", "decide p50", "decide p99", "decide max"])
    table = "latency per decision, ms (wall clock unless 'cpu')\n" + table
    table += "\n\n" + format_table(
        [[c, f["sparse"]["tokens_reasoning"], f["dense"]["tokens_reasoning"], f["scores_mix_removed"],
          f["with_projections_removed"]] for c in configs for f in [flops[c][cap_key(c)]]],
        ["config", "tokens sparse", "tokens dense", "attn FLOPs removed", "incl. projections"])
    table += (f"\n\nint8 vs fp32 agreement ({'trained' if agree['trained'] else 'UNTRAINED'} model, "
              f"n={agree['n']}): decisions {agree['decision']:.3f}, network argmax "
              f"{agree['network_argmax']:.3f}; refinement steps with early exit {agree['int8_refine_steps']}\n")
    table += "\n".join(f"{k}: {v['value']:.3g} (target {v['target']}) {'met' if v['met'] else 'NOT met'}"
                       for k, v in result["targets"].items())
    table += f"\n\nJSON and PNG in {out_dir}/"
    emit(result, table, args.json)
    return 0


def sched_info() -> str:
    """How this process was scheduled (normal, or real-time as a robot's control loop would run)."""
    import os
    policy = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    name = policy.get(os.sched_getscheduler(0), "other")
    prio = os.sched_getparam(0).sched_priority
    load = os.getloadavg()[0]
    return f"{name} priority {prio}, load average {load:.1f} at the end"


def plot(latency: dict, path: Path, note: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = list(latency)
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for j, (stat, color) in enumerate((("p50", "tab:blue"), ("p99", "tab:orange"), ("max", "tab:red"))):
        ax.bar(x + (j - 1) * 0.27, [latency[k]["model"][stat] for k in keys], 0.27, label=stat, color=color)
    ax.axhline(1.0, ls="--", c="gray", lw=1)
    ax.axhline(10.0, ls="--", c="k", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(x, keys, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("network latency per decision (ms, log)")
    ax.set_title("MiniReasoner network latency, 1 thread, refinement to the cap "
                 f"(targets: mini 1 ms, seed 10 ms)\n{note}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
