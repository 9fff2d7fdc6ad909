"""The one evaluation entry point: run any planner on a named suite (or a user's map) and write JSON,
a markdown table (with issue 5's targets and 95% intervals, planner/targets.py) and a success-by-difficulty PNG.

    from planner.evaluation import evaluate
    result = evaluate(suite="nav", planners=["expert", "dwa"], episodes=20, out_dir="runs/eval")

Planner protocol (duck-typed): `reset(env)` at the start of each episode, then every control period
`act(env, summary) -> (v, w)` (sent with `env.unwrapped.step_command`) or a primitive index (sent with
`env.step`). `summary` is the SensorSummary of the current observation; a planner may look only at it
(the honest ones: DWA, MiniReasoner, SB3) or at the environment (the privileged expert).

Registry PLANNERS: name -> factory(vehicle_name, options) -> planner. Every factory but the expert's
imports lazily, so a missing optional component (a model not trained yet) gives a clear PlannerError
for that planner only.

Suites run on the TEST seed range only (sim/worlds.py): episode i of level L uses world seed
TEST_SEEDS.start + i, so every planner meets the same worlds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from planner.errors import ConfigError, ModelLoadError, PlannerError
from planner.report import latency_stats

DEFAULT_MODEL = "models/weights/mini.card.json"
DEFAULT_DENSE_MODEL = "models/weights/mini-dense.card.json"
DEFAULT_SB3 = "models/weights/sb3_mlp.zip"


# ---- planners -------------------------------------------------------------------------------------
class ExpertPlanner:
    """The privileged expert (sees the whole world): `env.unwrapped.expert_action()`."""
    name = "expert"

    def reset(self, env) -> None:
        pass

    def act(self, env, summary) -> int:
        return env.unwrapped.expert_action()


class RuntimePlanner:
    """MiniReasoner through planner.runtime.Planner: decide(summary) -> Decision -> (v, w)."""

    def __init__(self, name: str, model_path: str, vehicle: str, verify: bool = True, backend: str = "onnx-int8",
                 deadline_ms: float | None = None):
        try:
            from planner.runtime import Planner, RuntimeConfig
        except ImportError as exc:
            raise PlannerError(f"planner '{name}' needs planner.runtime, which cannot be imported: {exc}") from None
        self.name = name
        try:
            self.planner = Planner(RuntimeConfig(model_path=model_path, vehicle=vehicle, verify=verify,
                                                 backend=backend,
                                                 **({} if deadline_ms is None else {"deadline_ms": deadline_ms})))
        except (ModelLoadError, ConfigError):
            raise
        except Exception as exc:   # a model that cannot be loaded is a user-facing error, not a crash
            raise ModelLoadError(f"planner '{name}': cannot load {model_path}: {exc}") from None
        self.status: dict[str, int] = {}

    def reset(self, env) -> None:
        self.planner.reset()

    def act(self, env, summary) -> tuple[float, float]:
        d = self.planner.decide(summary)
        self.status[d.status] = self.status.get(d.status, 0) + 1
        return float(d.v), float(d.w)


def _expert(vehicle: str, opts: dict) -> ExpertPlanner:
    return ExpertPlanner()


def _dwa(vehicle: str, opts: dict):
    try:
        from sim.dwa import DWAPlanner
    except ImportError as exc:
        raise PlannerError(f"planner 'dwa' is not available: {exc}") from None
    return DWAPlanner()


def _mini(name: str, key: str, default: str, verify: bool,
          backend: str = "onnx-int8") -> Callable[[str, dict], RuntimePlanner]:
    def make(vehicle: str, opts: dict) -> RuntimePlanner:
        return RuntimePlanner(name, opts.get(key) or default, vehicle, verify=verify, backend=backend,
                              deadline_ms=opts.get("deadline_ms"))
    return make


def _sb3(vehicle: str, opts: dict):
    try:
        from planner.training.baseline_mlp import SB3MlpPlanner
    except ImportError as exc:
        raise PlannerError(f"planner 'sb3-mlp' is not available: {exc}") from None
    path = opts.get("sb3_path") or DEFAULT_SB3
    try:
        return SB3MlpPlanner(path)
    except PlannerError:
        raise
    except Exception as exc:   # SB3 raises ValueError / BadZipFile / KeyError / RuntimeError on bad files
        raise ModelLoadError(f"{path}: not a loadable SB3 policy ({type(exc).__name__}: {exc})") from None


PLANNERS: dict[str, Callable[[str, dict], Any]] = {
    "expert": _expert,
    "dwa": _dwa,
    "minireasoner": _mini("minireasoner", "model", DEFAULT_MODEL, verify=True),
    "minireasoner-noverify": _mini("minireasoner-noverify", "model", DEFAULT_MODEL, verify=False),
    "minireasoner-fp32": _mini("minireasoner-fp32", "model", DEFAULT_MODEL, verify=True, backend="onnx-fp32"),
    "minireasoner-dense": _mini("minireasoner-dense", "dense_model", DEFAULT_DENSE_MODEL, verify=True),
    "sb3-mlp": _sb3,
}


def make_planner(name: str, vehicle: str, options: dict | None = None):
    if name not in PLANNERS:
        raise ConfigError(f"unknown planner {name!r}; choose from {', '.join(PLANNERS)}")
    return PLANNERS[name](vehicle, dict(options or {}))


# ---- suites ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Suite:
    name: str
    env_id: str
    vehicle: str
    levels: tuple[int, ...]


def suite(name: str) -> Suite:
    if name == "nav":
        from sim.worlds import NUM_LEVELS
        return Suite("nav", "planner/Nav-v0", "jackal", tuple(range(NUM_LEVELS)))
    if name == "drive":
        from sim.roads import NUM_ROAD_LEVELS
        return Suite("drive", "planner/Drive-v0", "car", tuple(range(NUM_ROAD_LEVELS)))
    raise ConfigError(f"unknown suite {name!r}; choose from nav, drive")


# ---- running --------------------------------------------------------------------------------------
def run_episode(env, planner, *, seed: int, world_seed: int | None = None, trace: bool = False) -> dict:
    """One episode; returns the env's per-episode metrics plus the planner's decision latency."""
    options = {"world_seed": world_seed} if world_seed is not None else None
    _, info = env.reset(seed=seed, options=options)
    planner.reset(env)
    u = env.unwrapped
    summary = info["summary"]
    latencies = []
    while True:
        t0 = time.perf_counter()
        out = planner.act(env, summary)
        latencies.append((time.perf_counter() - t0) * 1e3)
        if isinstance(out, (int, np.integer)):
            _, _, term, trunc, info = env.step(int(out))
        else:
            v, w = out
            _, _, term, trunc, info = u.step_command(float(v), float(w))
        summary = info["summary"]
        if term or trunc:
            break
    m = dict(info["metrics"])
    stats = latency_stats(latencies)
    m["decision_ms_p50"], m["decision_ms_p99"], m["decision_ms_max"] = stats["p50"], stats["p99"], stats["max"]
    if trace:
        m["trail"] = u.recorder.trail.tolist()
    return m


def evaluate(suite_name: str | None = "nav", planners: list[str] = ("expert",), episodes: int = 20,
             levels: list[int] | None = None, out_dir: str | Path | None = None, world=None,
             options: dict | None = None, seed: int = 0, guidance: str = "path") -> dict:
    """Run `planners` on a suite (or on one `world`, e.g. a ROS map) and write
    eval_<suite>.json / .md / _success.png into out_dir (when given). Returns the result dict.
    `guidance` (sim.nav_env.GUIDANCE): every honest planner gets the global path's lookahead point
    ("path", as a Nav2 controller gets the planner server's path) or only the goal ("goal")."""
    import gymnasium as gym

    import sim  # noqa: F401  (registers the environments)
    from planner.report import Progress, log, machine_info
    from sim.metrics import aggregate
    from sim.nav_env import GUIDANCE
    from sim.worlds import TEST_SEEDS

    if guidance not in GUIDANCE:
        raise ConfigError(f"guidance must be one of {', '.join(GUIDANCE)}, got {guidance!r}")
    if episodes < 1:
        raise ConfigError("episodes must be >= 1")
    if out_dir is not None:   # an unusable --out fails now, not after every episode has run
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    if world is not None:
        name, vehicle, env_kwargs, level_list = world.name, "jackal", {"world": world, "split": None}, [world.level]
        env_id = "planner/Nav-v0"
    else:
        s = suite(suite_name)
        bad = [lv for lv in (levels or []) if lv not in s.levels]
        if bad:
            raise ConfigError(f"suite {s.name} has levels {list(s.levels)}; got {bad}")
        name, vehicle, env_id = s.name, s.vehicle, s.env_id
        level_list = list(dict.fromkeys(levels or s.levels))   # `--levels 0 0` runs level 0 once
        env_kwargs = {"split": "test"}
    env_kwargs["guidance"] = guidance
    built = [(p, make_planner(p, vehicle, options)) for p in dict.fromkeys(planners)]   # fail fast, before any episode
    results: dict[str, Any] = {"suite": name, "env": env_id, "episodes_per_level": episodes,
                               "levels": level_list, "split": "test" if world is None else "map",
                               "guidance": guidance,
                               "deadline_ms": next((p.planner.cfg.deadline_ms for _, p in built
                                                    if isinstance(p, RuntimePlanner)), None),
                               "machine": machine_info(), "planners": {}}
    total = len(built) * len(level_list) * episodes
    examples: dict[str, dict] = {}
    with Progress(total, f"eval {name}") as progress:
        for pname, planner in built:
            per_level: dict[str, Any] = {}
            all_eps: list[dict] = []
            for level in level_list:
                env = gym.make(env_id, **env_kwargs, **({} if world is not None else {"level": level}))
                eps = []
                for i in range(episodes):
                    ws = None if world is not None else TEST_SEEDS.start + i
                    m = run_episode(env, planner, seed=seed + i, world_seed=ws, trace=i == 0)
                    if i == 0:   # the first world of each level: every planner's path on it, for the plot
                        examples.setdefault(str(level), {"world": env.unwrapped.world, "trails": {}})
                        examples[str(level)]["trails"][pname] = (np.asarray(m.pop("trail")), m["outcome"])
                    eps.append(m)
                    progress.update(1, planner=pname, level=level, success=float(np.mean([e["success"] for e in eps])))
                env.close()
                agg = aggregate(eps)
                agg["decision_ms_p50"] = float(np.median([e["decision_ms_p50"] for e in eps]))
                agg["decision_ms_p99"] = float(np.max([e["decision_ms_p99"] for e in eps]))
                per_level[str(level)] = {"summary": agg, "episodes": eps}
                all_eps += eps
                log.info("%s %s: success %.2f, collision %.2f, timeout %.2f", pname,
                         name if world is not None else f"level {level}",
                         agg["success"], agg["collision"], agg["timeout"])
            entry: dict[str, Any] = {"overall": aggregate(all_eps), "levels": per_level}
            if getattr(planner, "status", None):
                entry["decision_status"] = dict(planner.status)
            results["planners"][pname] = entry
    results["table"] = markdown_table(results)
    add_targets(results)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"eval_{_safe(name)}"
        (out / f"{stem}.json").write_text(_to_json(results))
        (out / f"{stem}.md").write_text(report_markdown(results, name))
        png = out / f"{stem}_success.png"
        plot_success(results, png)
        traj = out / f"{stem}_trajectories.png"
        plot_trajectories(results, examples, traj)
        results["files"] = {"json": str(out / f"{stem}.json"), "markdown": str(out / f"{stem}.md"),
                            "png": str(png), "trajectories_png": str(traj)}
    return results


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _to_json(results: dict) -> str:
    from planner.report import to_json
    return to_json(results)


COLUMNS = (("success", "success"), ("collision", "collision"), ("timeout", "timeout"),
           ("out_of_road", "out_of_road"), ("time_success", "time s (succ.)"), ("path_length", "path m"),
           ("spl", "SPL"), ("barn_score", "BARN"), ("min_clearance", "min clear. m"),
           ("mean_abs_jerk", "|jerk| m/s3"), ("decision_ms_p50", "decide p50 ms"),
           ("decision_ms_p99", "decide p99 ms"))


def level_label(results: dict, level: Any) -> str:
    """How a level reads in tables and plots: a user's map has no difficulty level (stored as -1)."""
    return "map" if results.get("split") == "map" else str(level)


def add_targets(results: dict) -> None:
    """results["targets"]: issue 5's targets checked on these results (planner/targets.py)."""
    from planner.targets import check_targets, targets_json
    results["targets"] = targets_json(check_targets(results))


def report_markdown(results: dict, title: str) -> str:
    """The eval_<suite>.md document: the per-level table, then the targets (when any could be checked)."""
    from planner.targets import targets_markdown
    targets = targets_markdown(results.get("targets", []))
    return f"# Evaluation: {title}\n\n{results['table']}\n" + (f"\n{targets}" if targets else "")


def markdown_table(results: dict) -> str:
    from planner.report import format_table
    rows = []
    for pname, entry in results["planners"].items():
        for level, lv in entry["levels"].items():
            s = lv["summary"]
            rows.append([pname, level_label(results, level), s["episodes"]] + [s.get(k, float("nan")) for k, _ in COLUMNS])
    return format_table(rows, ["planner", "level", "episodes"] + [h for _, h in COLUMNS])


def plot_success(results: dict, path: Path) -> None:
    """Grouped bars: success rate per level, one bar per planner."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results["planners"])
    levels = [str(lv) for lv in results["levels"]]
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(levels) + 2), 3.5))
    x = np.arange(len(levels))
    for i, n in enumerate(names):
        vals = [results["planners"][n]["levels"][lv]["summary"]["success"] for lv in levels]
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=n)
    on_map = results.get("split") == "map"
    ax.set_xticks(x, [results["suite"]] if on_map else levels)
    ax.set_xlabel("map" if on_map else "difficulty level")
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{results['suite']}: success ({results['episodes_per_level']} episodes)" if on_map else
                 f"{results['suite']}: success by difficulty ({results['episodes_per_level']} episodes/level)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the bars, not on them
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_trajectories(results: dict, examples: dict, path: Path) -> None:
    """One panel per level: its first world (static obstacles grey, movers' lanes dotted black) and
    the path every planner drove on it, ending in a marker for its outcome."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon
    markers = {"success": "o", "collision": "x", "timeout": "s", "out_of_road": "^"}
    levels = list(examples)
    cols = min(3, len(levels)) or 1
    rows = (len(levels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, level in zip(axes.flat, levels):
        world = examples[level]["world"]
        for b in world.static_boxes():
            c, s_ = np.cos(b.yaw), np.sin(b.yaw)
            corners = [(b.x + c * dx - s_ * dy, b.y + s_ * dx + c * dy)
                       for dx, dy in ((-b.half_x, -b.half_y), (b.half_x, -b.half_y), (b.half_x, b.half_y),
                                      (-b.half_x, b.half_y))]
            ax.add_patch(Polygon(corners, closed=True, color="0.6"))
        for m in world.movers:
            ax.plot([m.a[0], m.b[0]], [m.a[1], m.b[1]], ":", color="0.25", lw=2)
        for i, (pname, (trail, outcome)) in enumerate(examples[level]["trails"].items()):
            col = colors[i % len(colors)]
            if len(trail):
                ax.plot(trail[:, 0], trail[:, 1], "-", color=col, lw=1.3, label=f"{pname}: {outcome}")
                ax.plot(trail[-1, 0], trail[-1, 1], markers.get(outcome, "o"), color=col, ms=7)
        ax.plot(world.start.x, world.start.y, "k^", ms=8)
        ax.plot(world.goal.x, world.goal.y, "g*", ms=14)
        x0, y0, x1, y1 = world.bounds
        ax.set_xlim(x0 - 0.5, x1 + 0.5)
        ax.set_ylim(y0 - 0.5, y1 + 0.5)
        ax.set_aspect("equal")
        ax.set_title(f"{results['suite']} " + ("" if results.get("split") == "map" else f"level {level}, ")
                     + f"world {world.seed}", fontsize=9)
        ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(levels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
