"""`planner` command-line interface.

Each subcommand lives in `planner/commands/<name>.py` and defines HELP, `add_arguments(parser)` and
`run(args) -> int`. Command modules import heavy libraries (torch, pybullet, rclpy) inside `run`, so
`planner --help` stays fast. User errors (`PlannerError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from planner.errors import PlannerError

# Subcommand name -> module in planner.commands.
COMMANDS = {
    "demo": "demo",
    "sim-demo": "sim_demo",
    "eval": "eval",
    "bench": "bench",
    "train": "train",
    "finetune": "finetune",
    "export": "export",
    "launch": "launch",
    "hil": "hil",
}


def seed_int(text: str) -> int:
    """argparse type for seeds: numpy and Gymnasium take only non-negative integers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for one clear line and a non-zero exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="planner", description="MiniReasoner real-time local planner.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"planner.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from planner.report import setup_logging
    setup_logging(args.verbose)
    name = " ".join(filter(None, ("planner", args.command, getattr(args, "bench", None))))
    try:
        return int(args._run(args) or 0)
    except PlannerError as exc:
        sys.stderr.write(f"{name}: error: {exc}\n")
        return 2
    except OSError as exc:
        # A file system problem the user can fix (an --out path that is a file, no permission, disk
        # full): one line naming the path; -v keeps the traceback for a bug report.
        if args.verbose:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"{name}: error: {exc.strerror or exc}{where}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
