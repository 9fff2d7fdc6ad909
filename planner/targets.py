"""Issue 5's acceptance targets, checked on a `planner eval` result, each with a 95% interval.

    from planner.targets import check_targets, targets_json, targets_table
    rows = check_targets(result)          # result: evaluate(...) or a merged eval_<suite>.json
    print(targets_table(targets_json(rows)))

Why intervals: on 300 Nav episodes one collision is 0.33 points, and two runs of the same model on
the same worlds differ by a few episodes (docs/BENCHMARKS.md). Each row says whether the point
estimate meets the target and whether the interval is on that same side ("clear") or straddles it
("within noise"), so a table cannot read as a pass or a failure that the sample cannot tell apart.

- A rate (success, collision, ...) gets a Wilson score interval.
- A comparison of two planners (a ratio or a difference of success) is paired: every planner meets the
  same worlds (level, world seed), so episodes are resampled as pairs, within each level (the levels
  are a fixed design, not a sample), by a seeded bootstrap.
A target whose planners are missing from the result is left out; one whose planners met different
worlds is reported as not comparable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 0

MODEL, FP32, DENSE = "minireasoner", "minireasoner-fp32", "minireasoner-dense"

# (suite, outcome, planner, op, bound): the absolute targets on the int8 runtime with verifier.
RATE_TARGETS = (
    ("nav", "success", MODEL, ">=", 0.95),
    ("nav", "collision", MODEL, "<=", 0.02),
    ("drive", "success", MODEL, ">=", 0.90),
    ("drive", "collision", MODEL, "<=", 0.03),      # Drive calls a collision a crash
    ("drive", "out_of_road", MODEL, "<=", 0.03),
)
NAV_MIN_EPISODES = 300          # "the held-out Nav suite (at least 300 episodes over all levels)"
EXPERT_RATIO = 0.97             # MiniReasoner's Nav success >= 0.97 x the expert's
SB3_MARGIN = 0.15               # >= 15 points above the SB3 MLP on the two hardest Nav levels
SPARSE_RATIO = 0.98             # sparse attention keeps >= 98% of the dense model's success
INT8_POINTS = 0.01              # int8 within 1 point of fp32


@dataclass
class TargetRow:
    suite: str
    target: str                 # what is required, in words
    value: float                # the point estimate
    low: float                  # 95% interval
    high: float
    met: bool                   # the point estimate meets the target
    clear: bool                 # the whole interval is on the same side as the point estimate
    note: str = ""

    @property
    def verdict(self) -> str:
        return ("met" if self.met else "NOT met") + ("" if self.clear else " (within noise)")


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at 0 or n successes the bound is exactly 0 or 1 (the formula gives it only up to rounding)
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == n else min(1.0, centre + half))


def _outcomes(result: dict, planner: str, outcome: str, levels: list[str]) -> dict[str, dict[int, float]]:
    """level -> {world seed: 0/1} of one planner's episodes."""
    per_level = result["planners"][planner]["levels"]
    return {lv: {int(e["seed"]): float(bool(e[outcome])) for e in per_level[lv]["episodes"]} for lv in levels}


def _paired(result: dict, a: str, b: str, levels: list[str]) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per level, the success of planners a and b on the same worlds (None: they met different worlds)."""
    oa, ob = _outcomes(result, a, "success", levels), _outcomes(result, b, "success", levels)
    pairs = []
    for lv in levels:
        if set(oa[lv]) != set(ob[lv]) or not oa[lv]:
            return None
        seeds = sorted(oa[lv])
        pairs.append((np.array([oa[lv][s] for s in seeds]), np.array([ob[lv][s] for s in seeds])))
    return pairs


def paired_bootstrap(pairs: list[tuple[np.ndarray, np.ndarray]], statistic, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(value, 2.5%, 97.5%) of statistic(success a, success b) over all levels pooled, resampling
    episode pairs within each level."""
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    value = statistic(a.mean(), b.mean())
    rng = np.random.default_rng(seed)
    sa, sb = np.zeros(samples), np.zeros(samples)
    for pa, pb in pairs:
        idx = rng.integers(0, pa.size, size=(samples, pa.size))
        sa += pa[idx].sum(axis=1)
        sb += pb[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = statistic(sa / a.size, sb / b.size)
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        return value, float("nan"), float("nan")
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(value), float(low), float(high)


def _row(suite: str, target: str, value: float, low: float, high: float, op: str, bound: float,
         note: str = "") -> TargetRow:
    """op: ">=", "<=", ">" or "within" (|value| <= bound)."""
    if op == "within":
        # clear when the interval lies inside [-bound, bound], or (not met) wholly outside it
        met = abs(value) <= bound
        clear = (-bound <= low and high <= bound) if met else (low > bound or high < -bound)
        return TargetRow(suite, target, float(value), float(low), float(high), bool(met), bool(clear), note)
    passes = (lambda x: x >= bound) if op == ">=" else (lambda x: x <= bound) if op == "<=" else (lambda x: x > bound)
    met = passes(value)
    clear = bool(np.isfinite(low) and np.isfinite(high) and passes(low) == met and passes(high) == met)
    return TargetRow(suite, target, float(value), float(low), float(high), bool(met), clear, note)


def check_targets(result: dict) -> list[TargetRow]:
    """Every target of issue 5 that the result's planners allow checking (none on a user's map)."""
    suite = result.get("suite")
    if suite not in ("nav", "drive") or result.get("split") == "map":
        return []
    levels = [str(lv) for lv in result["levels"]]
    # only planners with their episodes (a summary JSON has none: nothing to pair or count)
    planners = {name: e for name, e in result.get("planners", {}).items()
                if all("episodes" in e.get("levels", {}).get(lv, {}) for lv in levels)}
    rows: list[TargetRow] = []
    if MODEL in planners:
        n = sum(len(planners[MODEL]["levels"][lv]["episodes"]) for lv in levels)
        for s, outcome, planner, op, bound in RATE_TARGETS:
            if s != suite:
                continue
            k = int(sum(sum(o.values()) for o in _outcomes(result, planner, outcome, levels).values()))
            low, high = wilson(k, n)
            label = "crash" if (suite, outcome) == ("drive", "collision") else outcome
            rows.append(_row(suite, f"{label} {op} {bound:g} ({k} of {n})", k / n, low, high, op, bound))
        if suite == "nav":
            rows.append(TargetRow(suite, f"episodes >= {NAV_MIN_EPISODES}", n, n, n, n >= NAV_MIN_EPISODES, True))

    def compare(a: str, b: str, target: str, statistic, op: str, bound: float, on: list[str],
                note: str = "") -> TargetRow | None:
        if a not in planners or b not in planners:
            return None
        pairs = _paired(result, a, b, on)
        if pairs is None:
            row = TargetRow(suite, target, float("nan"), float("nan"), float("nan"), False, False,
                            f"{a} and {b} met different worlds: not comparable")
        else:
            row = _row(suite, target, *paired_bootstrap(pairs, statistic), op, bound, note)
        rows.append(row)
        return row

    ratio = lambda a, b: a / b
    diff = lambda a, b: a - b
    if suite == "nav":
        compare(MODEL, "expert", f"success / expert's >= {EXPERT_RATIO:g}", ratio, ">=", EXPERT_RATIO, levels)
        hardest = sorted(levels, key=int)[-2:]
        for lv in hardest:
            compare(MODEL, "sb3-mlp", f"success - SB3 MLP's >= {SB3_MARGIN:g} on level {lv}", diff, ">=",
                    SB3_MARGIN, [lv])
        for lv in levels:
            if "dwa" in planners and MODEL in planners:
                both = [planners[p]["levels"][lv]["summary"]["success"] for p in (MODEL, "dwa")]
                if both[0] == both[1] == 1.0:     # nothing is above a perfect score
                    rows.append(TargetRow(suite, f"success above DWA's on level {lv}", 0.0, 0.0, 0.0, True, True,
                                          "both 1.0: tied at the ceiling"))
                    continue
            compare(MODEL, "dwa", f"success above DWA's on level {lv}", diff, ">", 0.0, [lv])
    compare(MODEL, DENSE, f"success / dense model's >= {SPARSE_RATIO:g}", ratio, ">=", SPARSE_RATIO, levels)
    int8 = compare(MODEL, FP32, f"|success - fp32's| <= {INT8_POINTS:g}", diff, "within", INT8_POINTS, levels,
                   "int8 minus fp32")
    if int8 is not None and np.isfinite(int8.low):
        int8.note += "; int8 better" if int8.low > 0 else "; int8 worse" if int8.high < 0 else ""
    return rows


def targets_json(rows: list[TargetRow]) -> list[dict]:
    return [dict(vars(r), verdict=r.verdict) for r in rows]


def targets_table(rows: list[dict]) -> str:
    """rows: targets_json(...) (as stored in eval JSON)."""
    from planner.report import format_table
    return format_table([[r["suite"], r["target"], r["value"], f"[{r['low']:.3g}, {r['high']:.3g}]", r["verdict"],
                          r["note"]] for r in rows],
                        ["suite", "target (issue 5)", "value", "95% interval", "verdict", "note"])


def targets_markdown(rows: list[dict]) -> str:
    """The markdown section eval reports append (empty when nothing could be checked)."""
    if not rows:
        return ""
    return ("## Targets\n\nRates: Wilson 95% interval. Comparisons: paired bootstrap over the same worlds, "
            "resampled within each level. \"within noise\": the interval reaches the other side of the target.\n\n"
            + targets_table(rows) + "\n")
