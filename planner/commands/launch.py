"""`planner launch`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Start the planner node (and optionally the simulator node): pip users' `ros2 launch`."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 6): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 6 is open)")
