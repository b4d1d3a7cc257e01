"""Building blocks of the Temporal Fusion Transformer (Lim et al. 2021, arXiv 1912.09363).

Each block is small and separately tested. Per-variable transforms (one GRN per input
variable in a variable selection network) use batched weights of shape
``(variables, in, out)`` instead of a Python loop over modules: ~50 features would
otherwise cost ~50 tiny kernel launches per layer and dominate CPU time. Their tensors
are variable-major, ``(variables, ..., features)``, so every layer is one ``baddbmm``
on contiguous memory with no permuted copies. They also accept a ``variables`` slice, so
the network can run the per-variable work of the observed features once per row and
share it between the overlapping encoder windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class VariableLinear(nn.Module):
    """``variables`` independent linear maps applied to input of shape ``(variables, ..., in)``."""

    def __init__(self, variables: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(variables, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(variables, out_features))
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialisation
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: Tensor, variables: slice | None = None, outputs: slice | None = None
    ) -> Tensor:
        """``outputs`` computes only those output features (of every variable)."""
        part = slice(None) if variables is None else variables
        columns = slice(None) if outputs is None else outputs
        weight, bias = self.weight[part, :, columns], self.bias[part, columns]
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        return torch.baddbmm(bias.unsqueeze(1), flat, weight).view(*x.shape[:-1], -1)


class VariableLayerNorm(nn.Module):
    """Layer norm over the last axis with a separate affine transform for each variable.

    Input ``(variables, ..., features)``, like ``VariableLinear``.
    """

    def __init__(self, variables: int, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(variables, features))
        self.bias = nn.Parameter(torch.zeros(variables, features))

    def forward(self, x: Tensor, variables: slice | None = None) -> Tensor:
        part = slice(None) if variables is None else variables
        shape = (-1, *([1] * (x.dim() - 2)), x.shape[-1])  # broadcast over the middle axes
        weight, bias = self.weight[part].view(shape), self.bias[part].view(shape)
        return torch.addcmul(bias, F.layer_norm(x, x.shape[-1:]), weight)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask is cut from 64-bit random draws, two elements each.

    torch's CPU dropout draws one Bernoulli sample per element on a scalar path (its
    vectorised MKL path serves Intel CPUs only): ~12 % of a training step here, ~2.5x
    this version's cost. An element is kept where its 32-bit half of a draw is at least
    ``p * 2**32`` (as a signed offset), i.e. with probability ``1 - p`` to within 2**-32.
    The draws come from torch's seeded generator, so runs stay reproducible. Other
    devices use ``F.dropout``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        count = x.numel()
        bits = torch.empty((count + 1) // 2, dtype=torch.int64).random_(-(2**63), None)
        keep = bits.view(torch.int32)[:count].view(x.shape) >= round(self.p * 2**32) - 2**31
        return torch.where(keep, x, 0.0).mul_(1.0 / (1.0 - self.p))  # no bool-to-float copy


def _linear(in_features: int, out_features: int, variables: int | None) -> nn.Module:
    if variables is None:
        return nn.Linear(in_features, out_features)
    return VariableLinear(variables, in_features, out_features)


def _norm(features: int, variables: int | None) -> nn.Module:
    return nn.LayerNorm(features) if variables is None else VariableLayerNorm(variables, features)


def _apply(module: nn.Module, x: Tensor, variables: slice | None) -> Tensor:
    """Call ``module``, restricted to ``variables`` if it holds per-variable weights."""
    if isinstance(module, VariableLinear | VariableLayerNorm):
        return module(x, variables)
    return module(x)


def _half(linear: nn.Module, x: Tensor, variables: slice | None, outputs: slice) -> Tensor:
    """Output features ``outputs`` of ``linear`` (restricted to ``variables`` if per-variable)."""
    if isinstance(linear, VariableLinear):
        return linear(x, variables, outputs)
    assert isinstance(linear, nn.Linear)
    return F.linear(x, linear.weight[outputs], linear.bias[outputs])


class GatedLinearUnit(nn.Module):
    """GLU(x) = sigmoid(W4 x + b4) * (W5 x + b5): lets the network switch a block off."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        dropout: float = 0.0,
        variables: int | None = None,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.dropout = Dropout(dropout)
        self.linear = _linear(input_size, 2 * output_size, variables)

    def forward(self, x: Tensor, variables: slice | None = None) -> Tensor:
        # Gate and value by separate maps (halves of one weight), so both are contiguous:
        # elementwise kernels on the strided halves of one wide output run ~5x slower.
        x = self.dropout(x)
        size = self.output_size
        gate = _half(self.linear, x, variables, slice(0, size))
        return torch.sigmoid(gate) * _half(self.linear, x, variables, slice(size, 2 * size))


class GateAddNorm(nn.Module):
    """LayerNorm(skip + GLU(x)): the paper's gated skip connection."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        dropout: float = 0.0,
        variables: int | None = None,
    ) -> None:
        super().__init__()
        self.glu = GatedLinearUnit(input_size, output_size, dropout, variables)
        self.norm = _norm(output_size, variables)

    def forward(self, x: Tensor, skip: Tensor, variables: slice | None = None) -> Tensor:
        return _apply(self.norm, skip + self.glu(x, variables), variables)


def _broadcast_context(context: Tensor, like: Tensor) -> Tensor:
    """Insert time/variable axes so a ``(batch, c)`` context adds to ``(batch, ..., c)``."""
    while context.dim() < like.dim():
        context = context.unsqueeze(-2)
    return context


class GatedResidualNetwork(nn.Module):
    """GRN(a, c) = LayerNorm(skip(a) + GLU(W1 ELU(W2 a + W3 c + b2) + b1)).

    ``context`` (optional) conditions the block on static covariates. With ``variables``
    set, the input is ``(variables, ..., input_size)`` and each variable has its own weights.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        dropout: float = 0.0,
        context_size: int | None = None,
        variables: int | None = None,
    ) -> None:
        super().__init__()
        output_size = input_size if output_size is None else output_size
        if context_size is not None and variables is not None:
            raise ValueError("a per-variable GRN takes no context")
        self.skip = (
            nn.Identity()
            if input_size == output_size
            else _linear(input_size, output_size, variables)
        )
        self.fc2 = _linear(input_size, hidden_size, variables)
        self.context = (
            None if context_size is None else nn.Linear(context_size, hidden_size, bias=False)
        )
        self.fc1 = _linear(hidden_size, hidden_size, variables)
        self.gate = GateAddNorm(hidden_size, output_size, dropout, variables)

    def forward(
        self, a: Tensor, context: Tensor | None = None, variables: slice | None = None
    ) -> Tensor:
        """``variables`` restricts a per-variable GRN to a slice of its variables."""
        hidden = _apply(self.fc2, a, variables)
        return self.finish(hidden, _apply(self.skip, a, variables), context, variables)

    def finish(
        self,
        hidden: Tensor,
        skip: Tensor,
        context: Tensor | None = None,
        variables: slice | None = None,
    ) -> Tensor:
        """The rest of the block, given ``W2 a + b2`` and ``skip(a)`` computed elsewhere."""
        if context is not None:
            if self.context is None:
                raise ValueError("this GRN was built without a context")
            hidden = hidden + _broadcast_context(self.context(context), hidden)
        hidden = _apply(self.fc1, F.elu(hidden), variables)
        return self.gate(hidden, skip, variables)


class VariableSelectionNetwork(nn.Module):
    """Softmax weights over input variables (conditioned on static context) and their mix.

    Input ``(..., variables, input_size)``; output ``(..., hidden_size)`` and weights
    ``(..., variables)`` that sum to 1: the weights are the model's instance-wise variable
    importance. Each variable's own GRN is ``input_size`` wide inside (at most
    ``hidden_size``) and only widens to ``hidden_size`` at its output, so a small
    ``input_size`` (pytorch-forecasting's ``hidden_continuous_size``) makes this, the
    costliest block per row, cheaper; with ``input_size == hidden_size`` it is the paper's.
    """

    def __init__(
        self,
        variables: int,
        input_size: int,
        hidden_size: int,
        dropout: float = 0.0,
        context_size: int | None = None,
    ) -> None:
        super().__init__()
        self.variables = variables
        self.weights_grn = GatedResidualNetwork(
            variables * input_size, hidden_size, variables, dropout, context_size
        )
        self.variable_grn = GatedResidualNetwork(
            input_size, min(input_size, hidden_size), hidden_size, dropout, variables=variables
        )

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        weights = torch.softmax(self.weights_grn(x.flatten(-2), context), dim=-1)
        processed = self.variable_grn(x.movedim(-2, 0).contiguous())
        return _mix(weights, processed.movedim(0, -2)), weights

    def forward_shared(
        self, rows: Tensor, index: Tensor, window: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``forward`` of ``cat([rows[index], window], -2)``, without repeating row work.

        ``rows`` ``(rows, r, d)`` are the first ``r`` variables of each data row, ``index``
        ``(batch, steps)`` picks a window of rows per sample, and ``window``
        ``(batch, steps, k, d)`` holds the remaining per-sample variables. Overlapping
        windows share rows, so the per-variable GRNs and the linear maps of the weight
        GRN run once per row: the same function, several times cheaper. (In training,
        dropout masks of those row terms are shared by the windows of a batch.)
        """
        size, r = rows.shape[-1], rows.shape[-2]
        first, rest = slice(0, r), slice(r, self.variables)
        grn = self.weights_grn
        if not isinstance(grn.fc2, nn.Linear) or not isinstance(grn.skip, nn.Linear):
            raise ValueError("shared selection needs a linear skip (input size above 1)")

        def linear(layer: nn.Linear, part: slice, x: Tensor) -> Tensor:
            columns = layer.weight[:, part.start * size : part.stop * size]
            return x.flatten(-2) @ columns.T

        hidden = linear(grn.fc2, first, rows)[index] + linear(grn.fc2, rest, window)
        skip = linear(grn.skip, first, rows)[index] + linear(grn.skip, rest, window)
        weights = torch.softmax(
            grn.finish(hidden + grn.fc2.bias, skip + grn.skip.bias, context), dim=-1
        )
        # Variable-major for the per-variable GRNs (a view if rows already are, physically).
        by_row = self.variable_grn(rows.movedim(-2, 0).contiguous(), variables=first)
        by_sample = self.variable_grn(window.movedim(-2, 0).contiguous(), variables=rest)
        mixed = _mix(weights[..., :r], by_row.movedim(0, -2)[index]) + _mix(
            weights[..., r:], by_sample.movedim(0, -2)
        )
        return mixed, weights


def _mix(weights: Tensor, processed: Tensor) -> Tensor:
    """``sum_v weights[..., v] * processed[..., v, :]`` as one batched matrix product."""
    return (weights.unsqueeze(-2) @ processed).squeeze(-2)


class StaticContexts(NamedTuple):
    """The four static context vectors of the paper (section 4.3)."""

    selection: Tensor  # c_s: conditions temporal variable selection
    enrichment: Tensor  # c_e: enriches temporal features before attention
    state_h: Tensor  # c_h: LSTM initial hidden state
    state_c: Tensor  # c_c: LSTM initial cell state


class StaticCovariateEncoder(nn.Module):
    """Four GRNs turning the static embedding into the contexts used downstream."""

    def __init__(self, hidden_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.grns = nn.ModuleList(
            GatedResidualNetwork(hidden_size, hidden_size, hidden_size, dropout) for _ in range(4)
        )

    def forward(self, static: Tensor) -> StaticContexts:
        return StaticContexts(*(grn(static) for grn in self.grns))


class InterpretableMultiHeadAttention(nn.Module):
    """Multi-head attention whose heads share one value projection and are averaged.

    Sharing values makes the head-averaged weights one interpretable attention pattern
    (paper eq. 14-16). ``mask`` is boolean ``(queries, keys)``, True where attention is
    forbidden (future positions).
    """

    def __init__(self, hidden_size: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size % heads:
            raise ValueError(f"hidden size {hidden_size} is not divisible by {heads} heads")
        self.heads = heads
        self.head_size = hidden_size // heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, self.head_size)
        self.output = nn.Linear(self.head_size, hidden_size)
        self.dropout = Dropout(dropout)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Output ``(batch, queries, hidden)`` and head-averaged weights ``(batch, q, k)``."""
        q = self.query(query).unflatten(-1, (self.heads, self.head_size)).transpose(1, 2)
        k = self.key(key).unflatten(-1, (self.heads, self.head_size)).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size)  # (batch, heads, q, k)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        values = self.value(value).unsqueeze(1)  # shared by every head
        heads = self.dropout(weights) @ values  # (batch, heads, q, head_size)
        return self.output(heads.mean(dim=1)), weights.mean(dim=1)


def causal_mask(queries: int, keys: int, offset: int) -> Tensor:
    """True where query ``i`` (at key position ``offset + i``) would see a later key."""
    return torch.ones(queries, keys, dtype=torch.bool).triu(diagonal=offset + 1)


class QuantileLoss(nn.Module):
    """Mean pinball loss over quantiles and the unmasked targets."""

    def __init__(self, quantiles: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("quantiles", torch.tensor(list(quantiles), dtype=torch.float32))

    def forward(self, predicted: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """``predicted`` is ``(..., quantiles)``, ``target`` and ``mask`` are ``(...)``."""
        error = target.unsqueeze(-1) - predicted
        q: Tensor = self.quantiles  # type: ignore[assignment]
        loss = torch.maximum(q * error, (q - 1.0) * error).mean(dim=-1)
        if mask is None:
            return loss.mean()
        # where(), not a product: masked targets may be NaN and NaN * 0 is NaN.
        kept = torch.where(mask, loss, torch.zeros_like(loss))
        return kept.sum() / mask.sum().clamp_min(1).to(loss.dtype)
