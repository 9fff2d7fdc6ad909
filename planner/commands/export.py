"""`planner export`."""
from __future__ import annotations

import argparse

from planner.errors import PlannerError

HELP = "Export a trained model to fp32 and int8 ONNX plus a model card."


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    # Not built yet (issue 4): say so plainly rather than print anything invented.
    raise PlannerError("not available yet (issue 4 is open)")
