"""`planner eval`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Evaluate planners on a named suite or on your own map; writes JSON, a markdown table and PNGs."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 3): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 3 is open)")
