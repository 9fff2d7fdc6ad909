"""Verifier before/after on VALIDATION worlds (docs/BENCHMARKS.md, "Verifier leaks").

Runs the shipped model through planner.runtime.Planner on Nav-v0 / Drive-v0 with split="val" (world seed
1000000 + i for episode i from --first, env seed i: the same worlds for every variant; --split test confirms a
change already chosen on VAL on the held-out worlds, as `planner eval` numbers them), one process, and prints one JSON
document: success / collision / timeout / out_of_road per level, decision latency, and for every collision
what the robot touched (privileged, for diagnosis only: mover or static body, contact point in the robot
frame) and the last decisions before it.

    .venv/bin/python docs/bench/verifier_val_ab.py --suite nav --levels 3 4 5 --episodes 24 --deadline 1000
    .venv/bin/python docs/bench/verifier_val_ab.py ... --old OLD_VERIFIER.py OLD_RUNTIME.py   # e.g. from git show

--deadline 1000 takes the machine's load out of the outcomes (a late decision is otherwise a stop).
--oracle motion|velocity|detection [--oracle-lag S] replaces the tracker's output by the simulator's truth, in
part or whole (a diagnosis: how many failures a perfect tracker would remove; docs/BENCHMARKS.md, "Session 16").
"""
import argparse
import importlib.util
import json
import math
import sys
import time
from collections import Counter

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--suite", choices=["nav", "drive"], default="nav")
ap.add_argument("--levels", type=int, nargs="+", default=[3, 4, 5])
ap.add_argument("--episodes", type=int, default=12)
ap.add_argument("--split", choices=["val", "test"], default="val",
                help="test: confirm a change chosen on VAL on the held-out worlds (never to choose one)")
ap.add_argument("--first", type=int, default=0, help="first VAL world index (another 100 worlds: --first 100)")
ap.add_argument("--deadline", type=float, default=10.0, help="RuntimeConfig.deadline_ms")
ap.add_argument("--old", nargs=2, metavar=("VERIFIER_PY", "RUNTIME_PY"),
                help="load these files as planner.verifier / planner.runtime (the version before)")
ap.add_argument("--vcfg", default="", help="VerifierConfig overrides, k=v,k=v (numbers)")
ap.add_argument("--model", default="models/weights/mini.card.json", help="model card")
ap.add_argument("--backend", default="onnx-int8", help="RuntimeConfig.backend (onnx-int8, onnx-fp32, ...)")
ap.add_argument("--rcfg", default="", help="RuntimeConfig overrides, k=v,k=v (numbers)")
ap.add_argument("--oracle-lag", type=float, default=0.0, help="with --oracle motion or velocity: the true velocity as it was this many s ago")
ap.add_argument("--oracle", choices=["motion", "velocity", "detection"],
                help="diagnosis only, simulator truth in place of the tracker's output: motion = every hit on a "
                     "mover moving with its true velocity, all others static; velocity = the tracker's moving hits, "
                     "those on a mover with its true velocity; detection = the tracker's velocities, but only hits "
                     "truly on a mover marked moving (no false alarms)")
a = ap.parse_args()
if a.old:
    for name, path in zip(("planner.verifier", "planner.runtime"), a.old):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
import gymnasium as gym  # noqa: E402

import sim  # noqa: E402,F401  (registers the environments)
from planner.runtime import Planner, RuntimeConfig  # noqa: E402
from sim.worlds import SPLITS  # noqa: E402

SEEDS = SPLITS[a.split]


def oracle_motion(summary, u, real):
    """What the verifier gets with --oracle (simulator truth: `NavEnv.true_motion`; diagnosis only)."""
    from planner.verifier import Motion
    velocity, on_mover = u.true_motion(summary.points, a.oracle_lag)
    if a.oracle == "velocity":
        return Motion(np.where(on_mover[:, None], velocity, real.velocity), real.moving)
    if a.oracle == "detection":
        return Motion(real.velocity, real.moving & on_mover)
    return Motion(velocity, on_mover)


def fallback_kind(reason: str) -> str:
    """A fallback's reason without its numbers: what stopped the vehicle."""
    for kind in ("no time left", "deadline missed", "no safe primitive", "stall recovery"):
        if kind in reason:
            return kind
    return reason[:40]


env_id, vehicle = ("planner/Nav-v0", "jackal") if a.suite == "nav" else ("planner/Drive-v0", "car")
extra = {}
if a.vcfg:
    from planner.verifier import VerifierConfig
    extra["verifier"] = VerifierConfig(**{k: float(v) for k, v in (kv.split("=") for kv in a.vcfg.split(","))})
if a.rcfg:
    extra.update({k: float(v) for k, v in (kv.split("=") for kv in a.rcfg.split(","))})
planner = Planner(RuntimeConfig(model_path=a.model, vehicle=vehicle, deadline_ms=a.deadline,
                                backend=a.backend, **extra))
out = {"suite": a.suite, "split": a.split, "backend": a.backend, "first": a.first, "deadline_ms": a.deadline, "old": bool(a.old), "vcfg": a.vcfg,
       "oracle": a.oracle,
       "levels": {}, "collisions": [], "timeouts": []}
tracker_update = planner.tracker.update
for level in a.levels:
    env = gym.make(env_id, level=level, split=a.split)
    u = env.unwrapped
    if a.oracle:          # the real tracker still runs (its memory), its output is replaced
        planner.tracker.update = lambda summary, real=tracker_update, u=u: oracle_motion(summary, u, real(summary))
    outcomes, latency, statuses, stops = [], [], Counter(), Counter()
    for i in range(a.first, a.first + a.episodes):
        _, info = env.reset(seed=i, options={"world_seed": SEEDS.start + i})
        planner.reset()
        summary, recent = info["summary"], []
        while True:
            t0 = time.perf_counter()
            d = planner.decide(summary)
            latency.append((time.perf_counter() - t0) * 1e3)
            statuses[d.status] += 1
            if d.status == "fallback":
                stops[fallback_kind(d.reason)] += 1
            recent = (recent + [dict(t=round(u.t, 2), v=round(u.v, 2), status=d.status, primitive=d.primitive,
                                     moving_hits=planner.last.get("moving_hits"), reason=d.reason[:80])])[-12:]
            _, _, term, trunc, info = u.step_command(d.v, d.w)
            summary = info["summary"]
            if term or trunc:
                break
        outcomes.append(info["outcome"])
        if info["outcome"] == "timeout":   # where it stood and what it chose last (stalls)
            out["timeouts"].append(dict(level=level, world_seed=SEEDS.start + i, t=round(u.t, 2),
                                        x=round(u.x, 1), y=round(u.y, 1), speed=round(u.v, 2),
                                        last_decisions=recent))
        if info["outcome"] == "collision":
            p, scene = u.scene._p, u.scene
            p.performCollisionDetection(physicsClientId=scene.cid)
            contacts = [c for c in p.getContactPoints(bodyA=scene.robot, physicsClientId=scene.cid) if c[8] < 1e-3]
            cy, sy = math.cos(u.yaw), math.sin(u.yaw)
            out["collisions"].append(dict(
                level=level, world_seed=SEEDS.start + i, t=round(u.t, 2), speed=round(u.v, 2),
                touched=sorted({"mover" if c[2] in scene.mover_bodies else "static" for c in contacts}),
                contact_robot_frame=[(round(cy * (c[5][0] - u.x) + sy * (c[5][1] - u.y), 2),
                                      round(-sy * (c[5][0] - u.x) + cy * (c[5][1] - u.y), 2)) for c in contacts[:1]],
                last_decisions=recent))
    env.close()
    n = len(outcomes)
    out["levels"][level] = dict({k: outcomes.count(k) / n for k in ("success", "collision", "timeout", "out_of_road")},
                                episodes=n, decisions=dict(statuses), fallbacks=dict(stops),
                                decide_ms={k: float(np.percentile(latency, q)) for k, q in (("p50", 50), ("p99", 99))}
                                | {"max": float(np.max(latency))})
    print(f"{a.suite} L{level}: {out['levels'][level]}", file=sys.stderr, flush=True)
eps = sum(v["episodes"] for v in out["levels"].values())
out["overall"] = {k: sum(v[k] * v["episodes"] for v in out["levels"].values()) / eps
                  for k in ("success", "collision", "timeout", "out_of_road")}
out["overall"]["episodes"] = eps
print(json.dumps(out))
