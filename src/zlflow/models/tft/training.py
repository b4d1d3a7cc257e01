"""Training one TFT: batches gathered by origin, the loss, and the early-stopped loop."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zlflow.models.tft.runtime import to_device

if TYPE_CHECKING:
    import torch

    from zlflow.models.tft.data import Windows
    from zlflow.models.tft.model import TemporalFusionTransformer, TFTOutput

log = logging.getLogger("zlflow")


class Batches:
    """Training tensors of one fold: batches are gathered by origin and moved to the device."""

    def __init__(
        self,
        windows: Windows,
        targets: torch.Tensor,
        mask: torch.Tensor,
        up: torch.Tensor,
        device: torch.device,
    ) -> None:
        self.windows, self.targets, self.mask, self.up = windows, targets, mask, up
        self.device = device

    def inputs(
        self, origins: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Distinct rows, known codes and window index: the network's shared-row call."""
        rows, index, known = self.windows.shared(origins)
        return rows.to(self.device), to_device(known, self.device), index.to(self.device)

    def labels(self, origins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            self.targets[origins].to(self.device),
            self.mask[origins].to(self.device),
            self.up[origins].to(self.device),
        )


def loss(
    out: TFTOutput,
    targets: torch.Tensor,
    mask: torch.Tensor,
    up: torch.Tensor,
    quantiles: Sequence[float],
    direction_weight: float,
) -> torch.Tensor:
    """Masked pinball loss over decoder steps plus the direction head's log loss."""
    import torch.nn.functional as F

    from zlflow.models.tft.layers import QuantileLoss

    quantile = QuantileLoss(quantiles).to(out.quantiles.device)
    direction = F.binary_cross_entropy_with_logits(out.direction_logit, up.float())
    return quantile(out.quantiles, targets, mask) + direction_weight * direction


def train(
    net: TemporalFusionTransformer,
    batches: Batches,
    train: torch.Tensor,
    valid: torch.Tensor,
    settings: Mapping[str, Any],
    quantiles: Sequence[float],
    seed: int,
) -> dict[str, Any]:
    """Train ``net`` on the ``train`` origins, early-stopping on the ``valid`` ones.

    The best epoch's weights are loaded back and the net is left in eval mode; the
    returned summary (epochs, best epoch and loss, origins, seconds) goes to model.json.
    """
    import torch

    from zlflow.models.tft.data import epoch_order
    from zlflow.models.tft.optim import FlatAdamW

    s = settings
    weight = float(s["direction_weight"])
    optimizer = FlatAdamW(
        net.parameters(),
        lr=float(s["learning_rate"]),
        weight_decay=float(s["weight_decay"]),
    )
    order = torch.Generator().manual_seed(seed)
    best_loss, best_epoch, stale = float("inf"), 0, 0
    best_state: dict[str, torch.Tensor] | None = None
    started = time.perf_counter()
    epoch = 0
    for epoch in range(1, s["max_epochs"] + 1):
        tic = time.perf_counter()
        net.train()
        total, seen = 0.0, 0
        shuffled = epoch_order(len(train), s["consecutive_origins"], order)
        for chunk in train[shuffled].split(s["batch_size"]):
            step_loss = loss(net(*batches.inputs(chunk)), *batches.labels(chunk), quantiles, weight)
            optimizer.zero_grad()
            step_loss.backward()
            optimizer.clip_grad_norm(float(s["gradient_clip"]))
            optimizer.step()
            total += float(step_loss.detach()) * len(chunk)
            seen += len(chunk)
        valid_loss = evaluate(net, batches, valid, s["batch_size"], quantiles, weight)
        log.info(
            "tft epoch %d/%d: loss %.4f, validation loss %s, %.1f s",
            epoch,
            s["max_epochs"],
            total / max(seen, 1),
            "n/a" if valid_loss is None else f"{valid_loss:.4f}",
            time.perf_counter() - tic,
        )
        if valid_loss is None:
            continue
        if valid_loss < best_loss:
            best_loss, best_epoch, stale = valid_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= s["patience"]:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {
        "epochs": epoch,
        "best_epoch": best_epoch or epoch,
        "best_validation_loss": None if best_state is None else best_loss,
        "train_origins": len(train),
        "validation_origins": len(valid),
        "seconds": round(time.perf_counter() - started, 3),
    }


def evaluate(
    net: TemporalFusionTransformer,
    batches: Batches,
    origins: torch.Tensor,
    batch_size: int,
    quantiles: Sequence[float],
    direction_weight: float,
) -> float | None:
    """Mean training objective on ``origins`` with dropout off; None without origins."""
    import torch

    if not len(origins):
        return None
    net.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in origins.split(batch_size):
            out = net(*batches.inputs(chunk))
            total += float(loss(out, *batches.labels(chunk), quantiles, direction_weight)) * len(
                chunk
            )
    return total / len(origins)
