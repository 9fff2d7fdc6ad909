"""`planner hil`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Hardware-in-the-loop latency test against a running planner node."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 7): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 7 is open)")
