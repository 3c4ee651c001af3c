"""The few models the lessons need: a linear model, an MLP (optional batch norm), a small CNN.

Each takes ``seed=`` so that its initial weights do not depend on what ran before.
"""

from __future__ import annotations

import torch
from torch import nn


def _seeded(seed):
    # Build under a private RNG state so the global generator is left untouched.
    return torch.random.fork_rng(devices=[]) if seed is not None else _Null()


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def linear(n_in: int, n_out: int = 1, *, seed: int | None = 0) -> nn.Module:
    """A single linear layer ``y = Wx + b``.

    >>> linear(4, 3).weight.shape
    torch.Size([3, 4])
    """
    with _seeded(seed):
        if seed is not None:
            torch.manual_seed(seed)
        return nn.Linear(n_in, n_out)


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
        Dropout probability after each hidden activation (0 turns it off).
    seed : int or None
        Seed for the initial weights.

    >>> [type(layer).__name__ for layer in MLP((64, 32, 10), batch_norm=True)]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    """

    def __init__(self, sizes, *, batch_norm=False, activation=nn.ReLU, dropout=0.0, seed=0):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes={sizes} needs at least an input and an output width")
        layers = []
        with _seeded(seed):
            if seed is not None:
                torch.manual_seed(seed)
            for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
                layers.append(nn.Linear(n_in, n_out))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(n_out))
                layers.append(activation())
                if dropout:
                    layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(sizes[-2], sizes[-1]))
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

    def __init__(self, n_classes: int = 10, *, channels: int = 16, seed: int | None = 0):
        super().__init__()
        with _seeded(seed):
            if seed is not None:
                torch.manual_seed(seed)
            self.features = nn.Sequential(
                nn.Conv2d(1, channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(channels, 2 * channels, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
            )
            self.head = nn.Linear(2 * channels * 16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
