"""`planner sim-demo`: run one simulated episode and draw it.

    planner sim-demo --env nav --level 3 --planner dwa --out out/demo.png
    planner sim-demo --env drive --level 4 --planner expert --json
    planner sim-demo --map my_map.yaml --start 1,1,0 --goal 6.5,4.5 --planner dwa

The PNG shows the obstacles (and the moving ones' tracks), the path taken coloured by speed, the
footprint every second, lidar rays at a few moments, start and goal. The outcome and the episode
metrics are printed (a table, or one JSON document with --json).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from planner.cli import seed_int
from planner.errors import ConfigError

HELP = "Run one simulated episode and write a top-down PNG (obstacles, lidar, path taken)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", choices=("nav", "drive"), default="nav", help="Nav-v0 (Jackal) or Drive-v0 (car) (default nav)")
    p.add_argument("--level", type=int, default=2, help="difficulty level (nav 0-5, drive 0-4; default 2)")
    p.add_argument("--seed", type=seed_int, default=2_000_000, help="world seed (default: the first test seed)")
    p.add_argument("--planner", default="expert",
                   help="who drives (default expert): expert, dwa, minireasoner, minireasoner-noverify, "
                        "minireasoner-dense, sb3-mlp")
    p.add_argument("--model", help="the chosen planner's model: a MiniReasoner model card (minireasoner, "
                                   "-noverify, -dense) or an SB3 policy zip (sb3-mlp); default: the shipped one")
    p.add_argument("--map", help="ROS map_server YAML to run on instead of a generated world (nav)")
    p.add_argument("--start", help="start pose X,Y,YAW on --map")
    p.add_argument("--goal", help="goal X,Y on --map")
    p.add_argument("--out", help="PNG path (default out/sim_demo_<env>_L<level>_s<seed>.png)")
    p.add_argument("--rays-every", type=float, default=3.0, help="draw the lidar rays every N seconds (default 3)")
    p.add_argument("--max-steps", type=int, default=None, help="cap the episode length (steps; default: the env's time limit)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")


def make_env(args: argparse.Namespace):
    if (args.start or args.goal) and not args.map:
        raise ConfigError("--start/--goal need --map (generated worlds bring their own)")
    if args.env == "drive":
        if args.map:
            raise ConfigError("--map works with --env nav (road worlds are generated)")
        from sim.drive_env import DriveEnv
        return DriveEnv(level=args.level, split=None, max_episode_steps=args.max_steps), {"world_seed": args.seed}
    from sim.nav_env import NavEnv
    if args.map:
        if not (args.start and args.goal):
            raise ConfigError("--map needs --start X,Y,YAW and --goal X,Y")
        from sim.maps import load_ros_map, parse_pose
        world = load_ros_map(args.map, parse_pose(args.start, "--start", need_yaw=True),
                             parse_pose(args.goal, "--goal", need_yaw=False))
        return NavEnv(world=world, split=None, max_episode_steps=args.max_steps), {}
    return NavEnv(level=args.level, split=None, max_episode_steps=args.max_steps), {"world_seed": args.seed}


def run_episode(env, driver, options: dict, rays_every_s: float) -> dict:
    """Drive one episode; returns the trace the figure needs and the final info."""
    _, info = env.reset(seed=0, options=options)
    driver.reset(env)
    u = env.unwrapped
    poses, speeds, rays, times = [(u.x, u.y, u.yaw)], [0.0], [], []
    next_rays = 0.0
    while True:
        summary = info["summary"]
        if u.t >= next_rays:
            c, s = math.cos(u.yaw), math.sin(u.yaw)
            pts = summary.points
            rays.append((u.x, u.y, np.stack([u.x + c * pts[:, 0] - s * pts[:, 1],
                                             u.y + s * pts[:, 0] + c * pts[:, 1]], axis=1)))
            next_rays += rays_every_s
        t0 = time.perf_counter()
        out = driver.act(env, summary)
        times.append((time.perf_counter() - t0) * 1e3)
        if isinstance(out, (int, np.integer)):      # a primitive index (the expert)
            _, _, term, trunc, info = env.step(int(out))
        else:
            _, _, term, trunc, info = u.step_command(float(out[0]), float(out[1]))
        poses.append((u.x, u.y, u.yaw))
        speeds.append(u.v)
        if term or trunc:
            break
    return {"poses": np.asarray(poses), "speeds": np.asarray(speeds), "rays": rays, "info": info,
            "act_ms": np.asarray(times), "t_end": u.t}


ROAD_PANEL_M = 60.0   # a long road is drawn as stacked panels of this length


def draw(env, trace: dict, title: str, out: Path) -> None:
    """Top-down figure of the episode; a road is cut into stacked panels so it stays readable."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world = env.unwrapped.world
    x0, y0, x1, y1 = world.bounds
    if hasattr(world, "lane_width"):
        n = int(math.ceil((x1 - x0) / ROAD_PANEL_M))
        fig, axes = plt.subplots(n, 1, figsize=(13, 1.45 * n + 0.9), dpi=110, squeeze=False)
        panel = (x1 - x0) / n
        windows = [(x0 + k * panel, x0 + (k + 1) * panel) for k in range(n)]
        pads = (0.0, 2.5)
    else:
        fig, axes = plt.subplots(1, 1, figsize=(8.5, 8.5 * min(1.5, (y1 - y0) / (x1 - x0)) + 0.6), dpi=110,
                                 squeeze=False)
        windows = [(x0, x1)]
        pads = (1.0, 1.0)
    for k, (ax, (wx0, wx1)) in enumerate(zip(axes[:, 0], windows)):
        lc = _draw_on(ax, env, trace)
        ax.set_xlim(wx0 - pads[0], wx1 + pads[0])
        ax.set_ylim(y0 - pads[1], y1 + pads[1])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_ylabel("y (m)", fontsize=8)
        if k == 0:
            ax.legend(loc="upper left", fontsize=7, framealpha=0.85, ncol=6)
    axes[-1, 0].set_xlabel("x (m)")
    axes[0, 0].set_title(title, fontsize=9, loc="left")
    cb = fig.colorbar(lc, ax=axes[:, 0].tolist(), fraction=0.02, pad=0.01)
    cb.set_label("speed (m/s)", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)


def _draw_on(ax, env, trace: dict):
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Polygon, Rectangle

    u = env.unwrapped
    world, veh = u.world, u.vehicle
    x0, y0, x1, y1 = world.bounds

    def rect(x: float, y: float, hx: float, hy: float, yaw: float) -> list[tuple[float, float]]:
        c, s = math.cos(yaw), math.sin(yaw)
        return [(x + c * a - s * b, y + s * a + c * b) for a, b in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))]

    if hasattr(world, "lane_width"):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color="#e6e6e6", zorder=0))
        for k in range(1, world.lanes):
            ax.plot([x0, x1], [y0 + k * world.lane_width] * 2, ls=(0, (6, 6)), color="white", lw=1.5, zorder=1)
    if world.grid is not None:
        g = world.grid
        ext = (g.origin[0], g.origin[0] + g.shape[1] * g.resolution, g.origin[1], g.origin[1] + g.shape[0] * g.resolution)
        ax.imshow(np.where(g.occupied, 0.35, 1.0), origin="lower", extent=ext, cmap="gray", vmin=0, vmax=1, zorder=0)
    else:
        for b in world.static_boxes():
            ax.add_patch(Polygon(rect(b.x, b.y, b.half_x, b.half_y, b.yaw), color="#555555", zorder=2))
    for m in world.movers:
        ax.plot([m.a[0], m.b[0]], [m.a[1], m.b[1]], color="#f4c08a", lw=1, zorder=1)
        mx, my = m.positions(trace["t_end"])
        ax.add_patch(Polygon(rect(float(mx), float(my), m.half_x, m.half_y, m.yaw), color="#e8731c", zorder=3))
    for i, (rx, ry, pts) in enumerate(trace["rays"]):
        if len(pts):
            segs = np.stack([np.broadcast_to([rx, ry], pts.shape), pts], axis=1)
            ax.add_collection(LineCollection(segs, colors="#d62728", lw=0.3, alpha=0.3, zorder=4))
            ax.scatter(pts[:, 0], pts[:, 1], s=1.5, color="#d62728", zorder=4, label="lidar hits" if i == 0 else None)
    poses, speeds = trace["poses"], trace["speeds"]
    segs = np.stack([poses[:-1, :2], poses[1:, :2]], axis=1)
    lc = LineCollection(segs, cmap="viridis", lw=2.2, zorder=5)
    lc.set_array(speeds[1:])
    lc.set_clim(0, veh.max_speed)
    ax.add_collection(lc)
    every = max(1, int(round(1.0 / u.dt)))
    for i, (x, y, yaw) in enumerate(list(poses[::every]) + [poses[-1]]):
        ax.add_patch(Polygon(rect(x, y, veh.length / 2, veh.width / 2, yaw), fill=False, ec="#1f3a93", lw=0.6,
                             zorder=6, label="footprint (1 s)" if i == 0 else None))
    ax.plot(world.start.x, world.start.y, "s", color="#1f3a93", ms=6, zorder=7, label="start")
    if hasattr(world, "destination_x"):
        ax.plot([world.destination_x] * 2, [y0, y1], color="#2ca02c", lw=3, zorder=7, label="destination")
    ax.plot(world.goal.x, world.goal.y, "*", color="#2ca02c", ms=14, zorder=7, label="goal")
    return lc


def run(args: argparse.Namespace) -> int:
    from planner.report import emit, format_table, latency_stats
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError("--max-steps must be >= 1")
    if args.rays_every <= 0:
        raise ConfigError("--rays-every must be positive")
    if args.out:   # an unusable --out fails now, not after the episode
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    import sim  # noqa: F401  (registers the environments)
    from planner.evaluation import make_planner
    # --model is the chosen planner's own model, whichever option name that planner reads
    driver = make_planner(args.planner, "car" if args.env == "drive" else "jackal",
                          {"model": args.model, "dense_model": args.model, "sb3_path": args.model})
    env, options = make_env(args)
    try:
        trace = run_episode(env, driver, options, args.rays_every)
        info = trace["info"]
        m = info["metrics"]
        world = env.unwrapped.world
        name = world.name
        out = Path(args.out) if args.out else Path("out") / f"sim_demo_{args.env}_L{world.level}_s{world.seed}.png"
        title = (f"{name} | {args.planner} | {info['outcome']} in {m['time']:.1f} s, path {m['path_length']:.1f} m, "
                 f"SPL {m['spl']:.2f}, BARN {m['barn_score']:.3f}, min clearance {m['min_clearance']:.2f} m")
        draw(env, trace, title, out)
    finally:
        env.close()
    result = {"env": args.env, "world": name, "level": world.level, "seed": world.seed, "planner": args.planner,
              "outcome": info["outcome"], "metrics": m, "png": str(out),
              "act_ms": latency_stats(trace["act_ms"])}
    if getattr(driver, "status", None):
        result["decision_status"] = dict(driver.status)
    rows = [[k, m[k]] for k in ("outcome", "time", "path_length", "spl", "barn_score", "min_clearance",
                                "mean_abs_jerk") if k in m]
    rows += [["planner act p50 / max (ms)", f"{result['act_ms']['p50']:.2f} / {result['act_ms']['max']:.2f}"],
             ["png", str(out)]]
    emit(result, format_table(rows, ["metric", "value"]), args.json)
    return 0
