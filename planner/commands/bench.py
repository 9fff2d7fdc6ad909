"""`planner bench <what>`: benchmarks that print a table (or one JSON document with --json).

Each benchmark lives in `planner/commands/bench_<what>.py` with HELP, add_arguments and run.
"""
from __future__ import annotations

import argparse
import importlib

HELP = "Benchmarks: `sim` (env steps/s), `latency` (model/runtime per-decision latency), `verifier` (sweep latency)."

BENCHES = {"sim": "bench_sim", "latency": "bench_latency", "verifier": "bench_verifier"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="WHAT", parser_class=type(p))
    sub.required = True
    for name, module_name in BENCHES.items():
        module = importlib.import_module(f"planner.commands.{module_name}")
        bp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        bp.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
        module.add_arguments(bp)
        bp.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return args._bench_run(args)
