"""`planner finetune`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Adapt the shipped model to your own maps from expert-labelled examples."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 5): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 5 is open)")
