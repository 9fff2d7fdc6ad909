"""`planner bench latency`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "not available yet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise PlannerError("not available yet")
