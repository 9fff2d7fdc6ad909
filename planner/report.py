"""Reporting helpers shared by every command that prints figures.

Convention (Foundation issue): with `--json` a command prints exactly one JSON document on stdout and
nothing else there; logs and progress go to stderr. Without it, a human-readable table goes to stdout.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import sys
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

import numpy as np

log = logging.getLogger("planner")


def setup_logging(verbose: bool = False) -> None:
    """Logs go to stderr, so stdout stays clean for tables and JSON."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def latency_stats(samples_ms: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max (and count, mean, std) of latency samples in milliseconds."""
    a = np.asarray(list(samples_ms), dtype=np.float64)
    if a.size == 0:
        return {"count": 0, "p50": math.nan, "p90": math.nan, "p99": math.nan, "p999": math.nan,
                "max": math.nan, "mean": math.nan, "std": math.nan}
    p50, p90, p99, p999 = np.percentile(a, [50, 90, 99, 99.9])
    return {"count": int(a.size), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "p999": float(p999), "max": float(a.max()), "mean": float(a.mean()), "std": float(a.std())}


def machine_info() -> dict[str, Any]:
    """Where a figure was measured: recorded beside every benchmark result."""
    import os
    info = {"host": platform.node(), "machine": platform.machine(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A markdown table (readable in a terminal and pasteable into docs)."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "-"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)
    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(result: Any) -> str:
    """Strict JSON: NaN/inf become null (JSON has no NaN)."""
    return json.dumps(_nan_to_none(result), default=_jsonable, indent=2, allow_nan=False)


def _nan_to_none(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    if isinstance(o, np.ndarray):
        return _nan_to_none(o.tolist())
    if isinstance(o, np.generic):
        return _nan_to_none(o.item())
    return o


def emit(result: dict, table: str, as_json: bool) -> None:
    """Print the result: one JSON document (with --json) or the human-readable table."""
    if as_json:
        sys.stdout.write(to_json(result) + "\n")
    else:
        sys.stdout.write(table.rstrip() + "\n")
    sys.stdout.flush()


class Progress:
    """Progress for long work: a tqdm bar on a terminal, periodic log lines otherwise (CI, files)."""

    def __init__(self, total: int, desc: str, every_s: float = 10.0):
        import time
        self._time = time.monotonic
        self.total, self.desc, self.every_s = total, desc, every_s
        self.n, self._last = 0, self._time()
        self._t0 = self._last
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    def update(self, n: int = 1, **info: Any) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            if info:
                self._bar.set_postfix(info, refresh=False)
            return
        now = self._time()
        # Periodic lines, and one when the total is first reached (work that overshoots its total, e.g.
        # PPO finishing a rollout, would otherwise log every update past it).
        done_now = self.n >= self.total > self.n - n
        if now - self._last >= self.every_s or done_now:
            self._last = now
            extra = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
            log.info("%s: %d/%d (%.0f%%, %.0fs) %s", self.desc, self.n, self.total,
                     100.0 * self.n / max(self.total, 1), now - self._t0, extra)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
