"""How many CPU threads `fit` trains with: one for small models, so a busy laptop stays fast.

Torch splits every operation over all cores. A small model's operations take microseconds,
so the threads mostly wait for each other; when another program holds a core, each wait
lasts a scheduler time slice. Measured on a shared, loaded 2-core machine
(benchmarks/bench_fit.py --hog): lesson 00's training took 5.6 s at 1 thread and 57 s at
torch's default of 2, and beside a CPU hog 8.5 s against 131 s. An MLP step of 35 million
to 1.7 billion floating-point operations was 5 to 30 times slower at 2 threads than at 1
under that load, and one of 6.8 billion still 1.6 times slower. So `fit` trains with one
thread below `SMALL_STEP_FLOPS` (every lesson's model) and leaves torch's setting alone
above it, where a quiet machine's extra cores pay off; and only while it runs.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

SMALL_STEP_FLOPS = 1e9  # below this many floating-point operations per step: one thread


def step_flops(model: nn.Module, batch_size: int) -> float:
    """About how many floating-point operations one training step takes: 6 per weight per row.

    A forward pass costs 2 (a multiply and an add) per weight and row, the backward pass
    twice that. Convolutions reuse their weights over positions, so this undercounts them;
    on the lessons' 8x8 images that is a factor of at most 64.

    >>> step_flops(nn.Linear(10, 2), 4)
    528.0
    """
    return 6.0 * sum(p.numel() for p in model.parameters()) * batch_size


def pick_threads(model: nn.Module, batch_size: int, device: torch.device, threads=None) -> int:
    """The thread count fit trains with: `threads` if given, else 1 for small CPU models.

    On a GPU (or above `SMALL_STEP_FLOPS`) torch's current setting is kept.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(
                f"threads={threads!r} must be a whole number of at least 1, or None "
                "(one thread for small models on the CPU, else torch's setting)"
            )
        return threads
    if device.type == "cpu" and step_flops(model, batch_size) < SMALL_STEP_FLOPS:
        return 1
    return torch.get_num_threads()


@contextmanager
def using_threads(n: int):
    """Run the block with torch at `n` threads, then put back the previous count."""
    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def describe() -> str:
    """One line for `wb.versions()`: what fit uses and what torch is set to."""
    return f"1 for small models on the CPU, else torch's {torch.get_num_threads()}"


__all__ = ["SMALL_STEP_FLOPS", "pick_threads", "step_flops", "using_threads"]
