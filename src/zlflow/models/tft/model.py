"""The Temporal Fusion Transformer network (Lim et al. 2021, figure 2), for one series.

Inputs per sample: observed features over the ``encoder_length`` rows ending at the
forecast origin (each feature a standardised value plus a missing indicator), and known
inputs over the encoder and the ``horizon`` decoder steps (relative position, and
optionally day of week and month). The single static input is a learned constant: with
one series there is nothing to distinguish, but it keeps the paper's static contexts
(selection, LSTM state, enrichment), which a multi-series version would feed.

Every input variable is embedded ``hidden_continuous`` wide and processed at that width
by its own GRN in the variable selection networks (pytorch-forecasting's
``hidden_continuous_size``); the selected mix and everything after it are
``hidden_size`` wide. Per-variable work is most of the cost, so a smaller width there
buys speed and memory; ``hidden_continuous=None`` (equal widths) is the paper's network.

Self-attention queries only the decoder positions (keys and values span encoder and
decoder, future keys masked): the paper's outputs at encoder positions never reach a
forecast, so computing them would only cost time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from zlflow.models.tft.layers import (
    GateAddNorm,
    GatedResidualNetwork,
    InterpretableMultiHeadAttention,
    StaticCovariateEncoder,
    VariableLinear,
    VariableSelectionNetwork,
    causal_mask,
)

OBSERVED_CHANNELS = 2  # standardised value, missing indicator


@dataclass(frozen=True)
class TFTConfig:
    """Shapes and sizes of a network: everything ``load`` needs to rebuild it."""

    observed: int
    encoder_length: int
    horizon: int
    quantiles: int
    hidden_size: int = 16
    # Width of each variable's embedding and GRN; None: hidden_size (older saved models).
    hidden_continuous: int | None = None
    attention_heads: int = 2
    dropout: float = 0.1
    # Cardinalities of the categorical known inputs (day of week, month), or empty.
    known_categories: tuple[int, ...] = field(default_factory=tuple)

    @property
    def variable_size(self) -> int:
        """The per-variable width actually used."""
        return self.hidden_size if self.hidden_continuous is None else self.hidden_continuous

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"known_categories": list(self.known_categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TFTConfig:
        return cls(**(data | {"known_categories": tuple(data["known_categories"])}))


class TFTOutput(NamedTuple):
    """Forecasts plus the interpretable internals of one forward pass."""

    quantiles: Tensor  # (batch, horizon, quantiles), unsorted
    direction_logit: Tensor  # (batch,), logit of a positive return over the whole horizon
    encoder_weights: Tensor  # (batch, encoder_length, observed + known)
    decoder_weights: Tensor  # (batch, horizon, known)
    static_weights: Tensor  # (batch, 1)
    attention: Tensor  # (batch, horizon, encoder_length + horizon), head-averaged


class TemporalFusionTransformer(nn.Module):
    """LSTM encoder-decoder with variable selection, static enrichment and causal attention."""

    def __init__(self, config: TFTConfig) -> None:
        super().__init__()
        self.config = config
        d, v = config.hidden_size, config.variable_size
        known = 1 + len(config.known_categories)
        self.observed_embedding = VariableLinear(config.observed, OBSERVED_CHANNELS, v)
        self.position_embedding = nn.Linear(1, v)
        self.category_embeddings = nn.ModuleList(
            nn.Embedding(n, v) for n in config.known_categories
        )
        self.static_embedding = nn.Parameter(torch.randn(1, 1, v) * 0.1)

        self.static_selection = VariableSelectionNetwork(1, v, d, config.dropout)
        self.static_encoder = StaticCovariateEncoder(d, config.dropout)
        self.encoder_selection = VariableSelectionNetwork(
            config.observed + known, v, d, config.dropout, context_size=d
        )
        self.decoder_selection = VariableSelectionNetwork(known, v, d, config.dropout, d)

        self.encoder_lstm = nn.LSTM(d, d, batch_first=True)
        self.decoder_lstm = nn.LSTM(d, d, batch_first=True)
        self.post_lstm = GateAddNorm(d, d, config.dropout)
        self.enrichment = GatedResidualNetwork(d, d, d, config.dropout, context_size=d)
        self.attention = InterpretableMultiHeadAttention(d, config.attention_heads, config.dropout)
        self.post_attention = GateAddNorm(d, d, config.dropout)
        self.feed_forward = GatedResidualNetwork(d, d, d, config.dropout)
        self.pre_output = GateAddNorm(d, d, 0.0)
        self.quantile_head = nn.Linear(d, config.quantiles)
        self.direction_head = nn.Linear(d, 1)

    def _known(self, batch: int, known: Tensor | None) -> Tensor:
        """Known-input embeddings ``(batch, encoder + horizon, known, hidden_continuous)``."""
        cfg = self.config
        steps = cfg.encoder_length + cfg.horizon
        # Encoder positions -(L-1)..0, decoder 1..h, scaled by L: the paper's time index.
        position = torch.arange(steps, device=self.static_embedding.device)
        position = (position - (cfg.encoder_length - 1)).to(self.static_embedding.dtype)
        embedded = [
            self.position_embedding((position / cfg.encoder_length).unsqueeze(-1))
            .unsqueeze(0)
            .expand(batch, -1, -1)
        ]
        if self.category_embeddings:
            if known is None:
                raise ValueError("this network was built with calendar inputs; pass `known`")
            embedded += [emb(known[..., i]) for i, emb in enumerate(self.category_embeddings)]
        return torch.stack(embedded, dim=-2)

    def forward(
        self, observed: Tensor, known: Tensor | None = None, index: Tensor | None = None
    ) -> TFTOutput:
        """Forecast from observed encoder inputs and known calendar codes.

        ``observed`` is either one window per sample, ``(batch, L, observed, 2)``, or
        (with ``index``) distinct data rows ``(rows, observed, 2)`` that ``index``
        ``(batch, L)`` arranges into windows: overlapping windows then share the row-wise
        work of variable selection. ``known`` is ``(batch, L + h, categories)``.
        """
        cfg = self.config
        length = cfg.encoder_length
        if index is None:
            batch = observed.shape[0]
            index = torch.arange(batch * length, device=observed.device).view(batch, length)
            observed = observed.flatten(0, 1)
        batch = index.shape[0]
        static_input = self.static_embedding.expand(batch, -1, -1)
        static, static_weights = self.static_selection(static_input)
        contexts = self.static_encoder(static)

        known_embedded = self._known(batch, known)
        past_selected, encoder_weights = self.encoder_selection.forward_shared(
            self.observed_embedding(observed.movedim(-2, 0)).movedim(0, -2),
            index,
            known_embedded[:, :length],
            contexts.selection,
        )
        future_selected, decoder_weights = self.decoder_selection(
            known_embedded[:, length:], contexts.selection
        )

        state = (contexts.state_h.unsqueeze(0), contexts.state_c.unsqueeze(0))
        encoded, state = self.encoder_lstm(past_selected, state)
        decoded, _ = self.decoder_lstm(future_selected, state)
        temporal = self.post_lstm(
            torch.cat([encoded, decoded], dim=1), torch.cat([past_selected, future_selected], 1)
        )
        enriched = self.enrichment(temporal, contexts.enrichment)

        queries = enriched[:, length:]
        mask = causal_mask(cfg.horizon, length + cfg.horizon, length).to(queries.device)
        attended, attention = self.attention(queries, enriched, enriched, mask)
        attended = self.post_attention(attended, queries)
        output = self.pre_output(self.feed_forward(attended), temporal[:, length:])
        return TFTOutput(
            quantiles=self.quantile_head(output),
            direction_logit=self.direction_head(output[:, -1]).squeeze(-1),
            encoder_weights=encoder_weights,
            decoder_weights=decoder_weights,
            static_weights=static_weights,
            attention=attention,
        )


def known_variable_names(calendar: Sequence[str]) -> list[str]:
    """Names of the known inputs in the order the network stacks them."""
    return ["known_position", *(f"known_{name}" for name in calendar)]
