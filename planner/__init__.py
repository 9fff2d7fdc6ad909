"""MiniReasoner Planner: a real-time learned local planner.

Core, ROS-independent package: configuration, sensing (the one function that builds the model's
input), motion primitives, the runtime `Planner`, training, evaluation and the `planner` CLI.
"""
__version__ = "0.1.0"
