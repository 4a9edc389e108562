"""Interleaved timing for the sibling benches: every variant runs once per round, the order reversed every
other round, so load from other processes on a shared machine hits all variants alike; ratios are paired
per round (variant's rate / baseline's rate in the same round) and summarised by their median.

Two clocks per run: wall time (what a user waits) and the process's CPU time (all threads; less
disturbed by other processes taking the cores, but blind to work that overlaps, such as a
prefetching input pipeline). On a quiet machine the two ratios agree; on a loaded one the CPU ratio
is the steadier of the two.

Shared by bench/gan_bench.py, bench/autoencoder_bench.py, bench/domain_adaptation_bench.py and
bench/style_transfer_bench.py.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Rates:
    """Units per wall second and per CPU second of each variant, one value per round."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


def interleaved(variants: dict[str, Callable[[], float]], rounds: int, warmup: int = 1) -> Rates:
    """Rates of each variant per round; a variant is a callable that does one timed piece of work and returns how
    many units (images, steps, iterations) it processed. `warmup` untimed calls each first (tracing,
    compilation, first allocations)."""
    for run in variants.values():
        for _ in range(warmup):
            run()
    rates = Rates({name: [] for name in variants}, {name: [] for name in variants})
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            units = variants[name]()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates.wall[name].append(units / wall)
            rates.cpu[name].append(units / max(cpu, 1e-9))
    return rates


def paired_ratios(rates: dict[str, list[float]], baseline: str) -> dict[str, list[float]]:
    """Per round: each variant's rate over the baseline's rate in the same round."""
    return {name: [a / b for a, b in zip(values, rates[baseline], strict=True)] for name, values in rates.items()}


def median_ratio(rates: Rates, name: str, baseline: str, clock: str = "wall") -> float:
    return statistics.median(paired_ratios(getattr(rates, clock), baseline)[name])


def table(rates: Rates, baseline: str, unit: str, label: str = "variant", width: int = 18,
          baselines: dict[str, str] | None = None) -> list[str]:
    """Lines: variant, median wall rate, median paired wall ratio (range), median paired CPU-time ratio (range).

    `baselines` maps a variant to another baseline than `baseline` (a denoiser against its own peer)."""
    n = len(rates.wall[baseline])
    lines = [f"{label:<{width}} {unit + '/s':>10}  {'wall ratio':>10} {'(range)':>11}  "
             f"{'CPU ratio':>9} {'(range)':>11}"]
    for name, values in rates.wall.items():
        base = (baselines or {}).get(name, baseline)
        wall = paired_ratios(rates.wall, base)[name]
        cpu = paired_ratios(rates.cpu, base)[name]
        against = "" if base == baseline else f"  (x {base})"
        lines.append(f"{name:<{width}} {statistics.median(values):>10.1f}  {statistics.median(wall):>9.2f}x "
                     f"{min(wall):>5.2f}-{max(wall):<5.2f}  {statistics.median(cpu):>8.2f}x "
                     f"{min(cpu):>5.2f}-{max(cpu):<5.2f}{against}")
    lines.append(f"ratios: x {baseline}, the median of {n} interleaved rounds")
    return lines
