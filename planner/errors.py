"""Error types. Everything a user can cause raises a `PlannerError` subclass with a one-line message;
the CLI prints it and exits non-zero instead of showing a traceback."""


class PlannerError(Exception):
    """Base class for errors caused by input, configuration or files (not by bugs)."""


class ConfigError(PlannerError):
    """A configuration value or file is invalid."""


class SensorError(PlannerError):
    """A sensor message cannot be used (wrong shape, frame, too many invalid ranges, ...)."""


class ModelLoadError(PlannerError):
    """A model file is missing, corrupt, truncated or does not match its model card."""


class MapError(PlannerError):
    """A map file is missing or malformed, or a start/goal is invalid on it."""
