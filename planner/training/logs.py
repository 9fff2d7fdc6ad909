"""Training logs: every scalar goes to TensorBoard and to a CSV file beside it (`<dir>/metrics.csv`)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, directory: Path):
        from torch.utils.tensorboard import SummaryWriter
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tb = SummaryWriter(str(self.dir))
        self._csv_path = self.dir / "metrics.csv"

    def log(self, step: int, **scalars: float) -> None:
        for k, v in scalars.items():
            self._tb.add_scalar(k, float(v), step)
        self._tb.flush()
        new = not self._csv_path.exists()
        with open(self._csv_path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["step", "key", "value"])
            for k, v in scalars.items():
                w.writerow([step, k, f"{float(v):.6g}"])

    def close(self) -> None:
        self._tb.close()


def write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (a checkpoint interrupted mid-write must not corrupt the run state)."""
    from planner.report import to_json
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_json(obj))
    tmp.replace(path)


def read_json(path: Path, default: Any = None) -> Any:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default
