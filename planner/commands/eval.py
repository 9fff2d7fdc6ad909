"""`planner eval`: run planners on a named suite (test seeds) or on your own ROS map.

    planner eval --suite nav --planner expert dwa --episodes 20 --out runs/eval
    planner eval --map my_map.yaml --start 1.0,2.0,0 --goal 8.5,3.0 --planner dwa --episodes 5

Writes eval_<suite>.json, eval_<suite>.md and eval_<suite>_success.png into --out; prints the markdown
table and, for the planners present, issue 5's targets with 95% intervals (planner/targets.py), or, with
--json, exactly one JSON document on stdout.
"""
from __future__ import annotations

import argparse

from planner.cli import seed_int

HELP = "Evaluate planners on a named suite or on your own map; writes JSON, a markdown table and PNGs."


def add_arguments(p: argparse.ArgumentParser) -> None:
    from planner.evaluation import PLANNERS
    src = p.add_mutually_exclusive_group()
    src.add_argument("--suite", choices=["nav", "drive"], help="named suite, run on the test seeds (default nav)")
    src.add_argument("--map", metavar="YAML", help="a ROS map_server YAML (PGM/PNG image beside it)")
    p.add_argument("--start", metavar="X,Y,YAW", help="start pose on --map (map frame, m and rad)")
    p.add_argument("--goal", metavar="X,Y", help="goal on --map (map frame, m)")
    p.add_argument("--planner", nargs="+", default=["expert"], metavar="NAME",
                   help=f"planners to run: {', '.join(PLANNERS)} (default: expert)")
    p.add_argument("--episodes", type=int, default=20, help="episodes per level (default 20)")
    p.add_argument("--levels", type=int, nargs="+", help="levels to run (default: all of the suite)")
    p.add_argument("--out", default="runs/eval", help="output directory (default runs/eval)")
    p.add_argument("--model", help="MiniReasoner model card for minireasoner / -noverify")
    p.add_argument("--dense-model", help="model card for minireasoner-dense")
    p.add_argument("--sb3", help="SB3 policy zip for sb3-mlp")
    p.add_argument("--seed", type=seed_int, default=0, help="episode seed offset (lidar noise)")
    p.add_argument("--guidance", choices=["path", "goal"], default="path",
                   help="what every planner is told: the global path's lookahead point (default) or the goal only")
    p.add_argument("--deadline-ms", type=float,
                   help="MiniReasoner's decision deadline (default: the runtime's 10 ms): a decision later than this "
                        "is a stop, so outcomes depend on the machine's load; a large value (e.g. 1000) takes "
                        "the load out, to compare models on a busy machine (latency: `planner bench`, `planner hil`)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from planner.errors import ConfigError, MapError
    from planner.evaluation import evaluate
    from planner.report import emit
    options = {"model": args.model, "dense_model": args.dense_model, "sb3_path": args.sb3,
               "deadline_ms": args.deadline_ms}
    world = None
    if args.map:
        if not args.start or not args.goal:
            raise MapError("--map needs --start X,Y,YAW and --goal X,Y")
        from sim.maps import load_ros_map, parse_pose
        world = load_ros_map(args.map, parse_pose(args.start, "--start", True), parse_pose(args.goal, "--goal", False))
        if args.levels:
            raise ConfigError("--levels applies to --suite, not --map")
    elif args.start or args.goal:
        raise ConfigError("--start/--goal need --map")
    result = evaluate(None if world is not None else (args.suite or "nav"), planners=args.planner,
                      episodes=args.episodes, levels=args.levels, out_dir=args.out, world=world,
                      options=options, seed=args.seed, guidance=args.guidance)
    files = result.get("files", {})
    from planner.targets import targets_table
    table = result["table"] + ("\n\n" + targets_table(result["targets"]) if result["targets"] else "")
    table += ("\n\nwrote " + ", ".join(files.values()) if files else "")
    if args.json:
        for entry in result["planners"].values():      # keep stdout to the figures; episodes are in the file
            for lv in entry["levels"].values():
                lv.pop("episodes", None)
    emit(result, table, args.json)
    return 0
