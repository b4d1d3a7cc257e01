"""What a fitted TFT looked at: integrated gradients of the median, the variable-selection
weights and the attention over encoder positions.

Functions take the network and prepared windows; the forecaster turns their arrays into
frames in the model's units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from zlflow.errors import ModelError
from zlflow.models.tft.runtime import to_device, torch_session

if TYPE_CHECKING:
    import torch

    from zlflow.models.tft.data import Windows
    from zlflow.models.tft.model import TemporalFusionTransformer


def integrated_gradients(
    net: TemporalFusionTransformer,
    windows: Windows,
    origins: np.ndarray,
    steps: int,
    median: int,
    device: torch.device,
    threads: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature integrated gradients of the raw median (summed over encoder steps) and
    the raw median itself, one row per origin, in the network's scaled units.

    The baseline is the all-zero (training-mean) window with the same calendar; gradients
    are averaged over ``steps`` midpoints of the straight path to the actual window.
    """
    import torch

    alphas = ((torch.arange(steps, dtype=torch.float32) + 0.5) / steps).to(device)
    contributions, raw = [], []
    with (
        torch_session(threads, seed, device),
        torch.backends.cudnn.flags(enabled=False),  # cuDNN LSTMs backprop in train mode only
    ):
        net.eval()
        for chunk in torch.from_numpy(origins).split(max(1, 64 // steps)):
            observed, known = windows.batch(chunk)
            observed, known = observed.to(device), to_device(known, device)
            b = len(chunk)
            path = (alphas.view(-1, 1, 1, 1, 1) * observed).flatten(0, 1).requires_grad_()
            repeated = None if known is None else known.repeat(steps, 1, 1)
            output = net(path, repeated).quantiles[:, -1, median]
            (grad,) = torch.autograd.grad(output.sum(), path)
            integrated = observed * grad.unflatten(0, (steps, b)).mean(dim=0)
            contributions.append(integrated.sum(dim=(1, 3)).detach().cpu().numpy())
            with torch.no_grad():
                raw.append(net(observed, known).quantiles[:, -1, median].cpu().numpy())
    return np.concatenate(contributions), np.concatenate(raw)


def baseline_median(
    net: TemporalFusionTransformer,
    windows: Windows,
    origins: np.ndarray,
    median: int,
    device: torch.device,
    threads: int,
    seed: int,
) -> np.ndarray:
    """Raw median for the all-zero (training-mean) window on each origin's dates, scaled."""
    import torch

    out = []
    with torch_session(threads, seed, device), torch.no_grad():
        for chunk in torch.from_numpy(origins).split(256):
            observed, known = windows.batch(chunk)
            zeros = torch.zeros_like(observed, device=device)
            out.append(net(zeros, to_device(known, device)).quantiles[:, -1, median].cpu())
    return torch.cat(out).numpy()


def selection_weights(
    out: dict[str, np.ndarray], features: Sequence[str], calendar: bool, index: pd.Index
) -> pd.DataFrame:
    """Variable-selection weights per row, averaged over time steps, under a (block,
    variable) MultiIndex: ``static``, ``encoder`` (features and known inputs), ``decoder``."""
    from zlflow.models.tft.data import CALENDAR
    from zlflow.models.tft.model import known_variable_names

    known = known_variable_names(CALENDAR if calendar else ())
    blocks = {
        "static": (out["static_weights"], ["static_series"]),
        "encoder": (out["encoder_weights"].mean(axis=1), [*features, *known]),
        "decoder": (out["decoder_weights"].mean(axis=1), known),
    }
    frames = [
        pd.DataFrame(values.astype(float), index=index, columns=names)
        for values, names in (blocks[b] for b in blocks)
    ]
    return pd.concat(frames, axis=1, keys=list(blocks), names=["block", "variable"])


def attention_weights(
    out: dict[str, np.ndarray], encoder_length: int, horizon: int, step: int | None
) -> np.ndarray:
    """Head-averaged attention on encoder positions for one decoder step (1-based), or
    averaged over the steps when ``step`` is None."""
    weights = out["attention"][:, :, :encoder_length]
    if step is None:
        return weights.mean(axis=1).astype(float)
    if not 1 <= step <= horizon:
        raise ModelError(f"step must be between 1 and horizon={horizon}, got {step}")
    return weights[:, step - 1].astype(float)
