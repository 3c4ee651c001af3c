"""How many CPU threads `fit` trains with: the user's count if set, else one for small steps.

Torch splits every operation over all cores. A small model's operations take microseconds,
so the threads mostly wait for each other; when another program holds a core, each wait
lasts a scheduler time slice. So, unless the user chose a count (`user_threads`), `fit`
trains with one thread while a step is small, and at torch's setting above, where a quiet
machine's extra cores pay off; and only while it runs. A step's operations are counted,
not guessed from the weights: one forward pass on two rows, each Linear and convolution
layer counted by its output's size (a convolution uses its weights at every position),
scaled to the batch (`step_flops`).

The threshold is measured (benchmarks/bench_threads.py, benchmarks/results_threads.json:
fit at 1 against 2 threads, MLPs and CNNs with steps of 1e6 to 2e9 operations, alone and
beside a process that keeps one core busy, 2-core x86_64, torch 2.13, median of 5). Beside
that process two threads were 2 to 6 times slower at every size. Alone, they gained
nothing up to 1e7 operations a step (0.96x to 1.27x the time at one thread, W1's MLP at
9.9e6: 0.96x) and 20% or more from 3e7 (0.80x), 33% on lesson 07's CNN (1.2e8). So one
thread is kept under `SMALL_STEP_FLOPS` = 2e7, where it costs nothing alone and saves a
busy laptop 2 to 6 times; above it, torch's threads, which a quiet machine pays back.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch
from torch import nn

SMALL_STEP_FLOPS = 2e7  # below this many floating-point operations per step: one thread
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # the user's count, if set
IMPORT_THREADS = torch.get_num_threads()  # torch's count when workbench was imported


def user_threads() -> int | None:
    """The thread count the user chose, or None while torch is at its default.

    A count is the user's when OMP_NUM_THREADS or MKL_NUM_THREADS is set, or when torch's
    count differs from what it was when workbench was imported (``torch.set_num_threads(n)``
    after ``import workbench``).
    """
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return torch.get_num_threads()
    if torch.get_num_threads() != IMPORT_THREADS:
        return torch.get_num_threads()
    return None


def _layer_flops(module: nn.Module, out: torch.Tensor) -> float:
    """Forward operations of one Linear or convolution: 2 per weight use, over all outputs."""
    if isinstance(module, nn.Linear):
        return 2.0 * out.numel() * module.in_features
    per_output = module.in_channels // module.groups  # a convolution: every position
    for k in module.kernel_size:
        per_output *= k
    return 2.0 * out.numel() * per_output


def step_flops(model: nn.Module, X, batch_size: int) -> float:
    """About how many floating-point operations one training step on `batch_size` rows takes.

    One forward pass on two rows of `X` (one thread, eval mode, no gradients, so that
    BatchNorm's statistics, dropout and the random generators are untouched; each module's
    training flag is put back) counts each Linear and convolution layer by its output's
    size; the backward pass costs twice the forward. Weights of other layers count 2 per
    row each, as do all weights when the model fails on `X` (fit then reports why, before
    training).

    >>> step_flops(nn.Linear(10, 2), torch.zeros(5, 10), 4)
    480.0
    >>> conv = nn.Conv2d(1, 4, 3, padding=1)  # 36 weights, each used at 8x8 positions
    >>> step_flops(conv, torch.zeros(5, 1, 8, 8), 1)
    13824.0
    """
    counted = (nn.Linear, nn.modules.conv._ConvNd)
    layers = [m for m in model.modules() if isinstance(m, counted)]
    flops = []
    hooks = [
        m.register_forward_hook(lambda module, _, out: flops.append(_layer_flops(module, out)))
        for m in layers
    ]
    flags = {module: module.training for module in model.modules()}
    layer_weights = {id(p) for m in layers for p in m.parameters(recurse=False)}
    others = sum(p.numel() for p in model.parameters() if id(p) not in layer_weights)
    try:
        param = next(model.parameters(), None)
        X = torch.as_tensor(X[:2])
        if param is not None:
            X = X.to(param.device, param.dtype if X.is_floating_point() else X.dtype)
        model.eval()
        with torch.no_grad(), using_threads(1):  # two rows: one thread is quickest
            model(X)
        per_row = sum(flops) / len(X) + 2.0 * others
    except Exception:  # the model cannot take X: fit's checks name the problem next
        per_row = 2.0 * sum(p.numel() for p in model.parameters())
    finally:
        for hook in hooks:
            hook.remove()
        for module, flag in flags.items():
            module.training = flag
    return 3.0 * per_row * batch_size


def pick_threads(
    model: nn.Module, data, batch_size: int, device: torch.device, threads=None
) -> int:
    """The thread count fit trains `model` with on `data` (a `Data`).

    `threads` if given; else torch's setting on a GPU or when the user chose it (see
    `user_threads`); else 1 for steps under `SMALL_STEP_FLOPS` and torch's setting above.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(
                f"threads={threads!r} must be a whole number of at least 1, or None "
                "(the count set by torch.set_num_threads or OMP_NUM_THREADS, else one "
                "thread for small steps on the CPU), e.g. threads=2"
            )
        return threads
    current = torch.get_num_threads()
    if device.type != "cpu" or current == 1 or user_threads() is not None:
        return current
    try:
        X = data.train[0]
    except (AttributeError, TypeError, IndexError, KeyError):
        X = None  # a malformed split: fit's checks name it next; the weights are counted
    return 1 if step_flops(model, X, batch_size) < SMALL_STEP_FLOPS else current


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
    n = torch.get_num_threads()
    if user_threads() is not None:
        return f"torch's {n}, set by the user"
    return f"1 for steps under {SMALL_STEP_FLOPS:.0e} operations on the CPU, else torch's {n}"


__all__ = [
    "SMALL_STEP_FLOPS",
    "pick_threads",
    "step_flops",
    "user_threads",
    "using_threads",
]
