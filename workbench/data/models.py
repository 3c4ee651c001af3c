"""The few models the lessons need: a linear model, an MLP (optional batch norm), a small CNN.

Each takes ``seed=`` so that its initial weights do not depend on what ran before. The
weights are drawn from a `torch.Generator` of the model's own, never from torch's global
generator (one per process: a playground trains on a thread beside the student's cells), with
torch's own default initialization, so they equal what ``torch.manual_seed(seed)`` followed by
``nn.Linear(...)`` gives, bit for bit. Dropout is `Dropout`, whose masks come from the
generator `fit` hands it for its run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def generator(seed: int | torch.Generator | None) -> torch.Generator:
    """The CPU generator a model's initial weights are drawn from.

    An int gives the stream ``torch.manual_seed(seed)`` would give the global generator; a
    generator is used as it is (and advanced); None draws a fresh seed from the OS, so the
    weights differ on every call.

    >>> torch.equal(generator(3).get_state(), torch.Generator().manual_seed(3).get_state())
    True
    """
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        gen = torch.Generator()
        gen.seed()  # from the OS, not from torch's global generator
        return gen
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed={seed!r} must be a whole number (e.g. 0), a torch.Generator or None")
    return torch.Generator().manual_seed(int(seed))


def init_default(layer: nn.Linear | nn.Conv2d, gen: torch.Generator) -> None:
    """Torch's default initialization of a Linear or Conv2d layer, drawn from `gen`.

    The same draws in the same order as ``nn.Linear.reset_parameters`` (and Conv2d's):
    Kaiming-uniform weights with ``a=sqrt(5)``, then a bias uniform in +-1/sqrt(fan_in).
    """
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=gen)
        if layer.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


def _layer(cls, gen: torch.Generator, *args, **kwargs):
    # skip_init builds on the meta device, so torch's own init (global generator) never runs
    layer = nn.utils.skip_init(cls, *args, **kwargs)
    init_default(layer, gen)
    return layer


class Dropout(nn.Dropout):
    """`nn.Dropout` whose masks come from `generator`, not from torch's global generator.

    `fit` sets `generator` to its run's dropout generator while it trains (and puts the
    previous one back), so a seeded run draws the same masks whatever else the process does.
    With ``generator=None`` it is exactly `nn.Dropout`. The masks are the ones torch's CPU
    dropout draws from the same generator state (``bernoulli_(1 - p)``, then ``/ (1 - p)``).

    >>> x = torch.ones(2, 4)
    >>> a = Dropout(0.5, generator=torch.Generator().manual_seed(0))(x)
    >>> b = Dropout(0.5, generator=torch.Generator().manual_seed(0))(x)
    >>> torch.equal(a, b)
    True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator=None):
        super().__init__(p, inplace)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        if gen is None or not self.training or self.p == 0 or x.numel() == 0:
            return super().forward(x)
        if self.p == 1:
            noise = torch.zeros((), dtype=x.dtype, device=x.device)
        elif gen.device == x.device:
            noise = torch.empty_like(x).bernoulli_(1 - self.p, generator=gen).div_(1 - self.p)
        else:  # e.g. a CPU generator for a model on MPS: draw on the CPU, then move
            noise = torch.empty(x.shape, dtype=x.dtype, device=gen.device)
            noise = noise.bernoulli_(1 - self.p, generator=gen).div_(1 - self.p).to(x.device)
        return x.mul_(noise) if self.inplace else x * noise


@contextmanager
def dropout_from(model: nn.Module, gen: torch.Generator) -> Iterator[int]:
    """Inside, every `Dropout` of `model` draws its masks from `gen`; the previous
    generators are put back after. Yields how many Dropout layers there are."""
    layers = [m for m in model.modules() if isinstance(m, Dropout)]
    before = [m.generator for m in layers]
    for m in layers:
        m.generator = gen
    try:
        yield len(layers)
    finally:
        for m, old in zip(layers, before, strict=True):
            m.generator = old


def linear(n_in: int, n_out: int = 1, *, seed: int | torch.Generator | None = 0) -> nn.Module:
    """A single linear layer ``y = Wx + b``.

    >>> linear(4, 3).weight.shape
    torch.Size([3, 4])
    """
    return _layer(nn.Linear, generator(seed), n_in, n_out)


class MLP(nn.Sequential):
    """A multilayer perceptron: Linear, [BatchNorm1d], activation, ... , Linear.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(64, 128, 128, 10)``.
    batch_norm : bool
        Put a BatchNorm1d after every hidden Linear layer (before the activation).
    activation : type of nn.Module
        The hidden activation, ReLU by default.
    dropout : float
        Dropout probability after each hidden activation (0 turns it off); the layers are
        `Dropout`, which `fit` seeds with its ``seed``.
    seed : int, torch.Generator or None
        Seed (or generator) for the initial weights; None: fresh weights on every call.

    >>> [type(layer).__name__ for layer in MLP((64, 32, 10), batch_norm=True)]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    """

    def __init__(self, sizes, *, batch_norm=False, activation=nn.ReLU, dropout=0.0, seed=0):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes={sizes} needs at least an input and an output width")
        gen, layers = generator(seed), []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
            layers.append(_layer(nn.Linear, gen, n_in, n_out))
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(activation())
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(_layer(nn.Linear, gen, sizes[-2], sizes[-1]))
        super().__init__(*layers)

    def __getitem__(self, idx):
        # nn.Sequential rebuilds a slice with our __init__, which takes sizes, not layers
        if isinstance(idx, slice):
            return nn.Sequential(*list(self._modules.values())[idx])
        return super().__getitem__(idx)


class SmallCNN(nn.Module):
    """A small CNN for 1x8x8 digit images: two 3x3 convolutions, then a linear head.

    The convolutional part is `features` and the classifier is `head`, so transfer
    learning can reuse one and replace the other.

    >>> SmallCNN()(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, n_classes: int = 10, *, channels: int = 16, seed: int | torch.Generator | None = 0
    ):
        super().__init__()
        gen = generator(seed)
        self.features = nn.Sequential(
            _layer(nn.Conv2d, gen, 1, channels, 3, padding=1),
            nn.ReLU(),
            _layer(nn.Conv2d, gen, channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = _layer(nn.Linear, gen, 2 * channels * 16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
