"""`planner sim-demo`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Run one simulated episode and write a top-down PNG (obstacles, lidar, path taken)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 3): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 3 is open)")
