"""One module per `planner` subcommand (see planner/cli.py)."""
