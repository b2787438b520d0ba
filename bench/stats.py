"""Statistics and printing helpers shared by the benchmarks."""

from __future__ import annotations

import math


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50": percentile(samples, 50), "p90": percentile(samples, 90),
            "p99": percentile(samples, 99), "max": max(samples), "min": min(samples),
            "mean": sum(samples) / len(samples)}


def fmt(name: str, stats: dict[str, float | int], unit: str = "ms", *,
        name_width: int = 16, n_width: int = 4) -> str:
    """One line; `stats` are in ms, printed in ms or (unit "us") microseconds. The name is
    padded to `name_width` characters and the sample count to `n_width`."""
    if not stats.get("n"):
        return f"{name:<{name_width}} n=0"
    scale, digits = (1000.0, 0) if unit == "us" else (1.0, 1)

    def v(key: str) -> str:
        return f"{stats[key] * scale:8.{digits}f}"

    return (f"{name:<{name_width}} n={stats['n']:<{n_width}} p50={v('p50')}  p90={v('p90')}  "
            f"p99={v('p99')}  max={v('max')}  min={v('min')}  ({unit})")
