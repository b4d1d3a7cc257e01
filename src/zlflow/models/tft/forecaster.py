"""TFTForecaster: the Temporal Fusion Transformer behind the ``ForecastModel`` interface.

Design choices a caller should know:

* **Row order is time order.** ``fit`` and ``predict_*`` read rows in the order given, one
  row per session, as the workflow passes them. Nothing else about the index is needed.
* **Calendar inputs come from a DatetimeIndex.** If ``X`` passed to ``fit`` is indexed by
  trade date, day of week and month become known inputs (decoder dates are approximated
  as business days, see ``data.future_calendar_codes``) and prediction then needs dated
  ``X`` and ``history`` too. Otherwise the only known input is the relative position.
  The index is the one place a date can travel with features-only frames without
  becoming a feature column, so no side channel (attribute, extra argument) is needed.
* **Decoder targets.** Decoder step ``k`` predicts the cumulative log return from the
  origin to ``k`` sessions later; the last step is ``y`` itself and intermediate steps
  are sums of ``return_feature`` (``ret_1d``) over later *training* rows, masked where
  those rows are not in ``X``. Forecasts are the last step's quantiles.
* **torch is imported lazily**, so listing models does not pay its ~2 s import.

This class prepares rows and holds the fitted state; the parts live beside it:
``settings`` (defaults and checks), ``training`` (batches, loss, the early-stopped loop),
``explain`` (integrated gradients, selection weights, attention), ``runtime`` (device,
seeded sessions), ``data`` (windows and targets), ``model`` and ``layers`` (the network).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from zlflow.errors import ModelError
from zlflow.markers import fix_mode, write_json_atomic
from zlflow.models.base import MEDIAN, METADATA_FILE, ForecastModel
from zlflow.models.tft import explain as tft_explain
from zlflow.models.tft import settings as tft_settings
from zlflow.models.tft.runtime import resolve_device, to_device, torch_session

if TYPE_CHECKING:
    import optuna
    import torch

    from zlflow.models.tft.data import Standardizer, Windows
    from zlflow.models.tft.model import TemporalFusionTransformer

log = logging.getLogger("zlflow")

WEIGHTS = "model.pt"


def _values(frame: pd.DataFrame) -> np.ndarray:
    """Features as float64; missing values stay NaN (the model imputes with indicators)."""
    categorical = [str(c) for c, t in frame.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    if categorical:
        raise ModelError(
            f"tft takes numeric features only, but {categorical} are categorical: "
            "encode them as numbers (e.g. one column per level) before fitting"
        )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file, then renamed. Written through a file object:
    given a path, torch names the archive's folder after the (random) temporary file, so
    the same weights would never give the same bytes."""
    import torch

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        fix_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TFTForecaster(ForecastModel):
    """Quantiles of the h-session log return, and P(up), from a Temporal Fusion Transformer."""

    name: ClassVar[str] = "tft"

    def __init__(
        self,
        quantiles: Sequence[float],
        params: Mapping[str, Any],
        seed: int,
        threads: int = 1,
    ) -> None:
        super().__init__(quantiles, params, seed, threads)
        self.settings = tft_settings.check_settings(self.params)
        self._net: TemporalFusionTransformer | None = None
        self._standardizer: Standardizer | None = None
        self._target_scale = 1.0
        self._calendar = False
        self._device: torch.device | None = None
        self.training_summary: dict[str, Any] = {}

    # --- parameters ---------------------------------------------------------------------

    @staticmethod
    def default_params() -> dict[str, Any]:
        """See ``settings.default_params``."""
        return tft_settings.default_params()

    @classmethod
    def horizon_params(cls, horizon_days: int) -> dict[str, Any]:
        """The decoder runs one step per session up to the target's horizon."""
        return {"horizon": int(horizon_days)}

    @staticmethod
    def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
        """See ``settings.suggest_params``."""
        return tft_settings.suggest_params(trial)

    # --- inputs ---------------------------------------------------------------------------

    def _dated(self, index: pd.Index, what: str) -> pd.DatetimeIndex | None:
        """The index as dates when the model uses calendar inputs, else None."""
        if not self._calendar:
            return None
        if not isinstance(index, pd.DatetimeIndex):
            raise ModelError(
                f"this tft model was fitted on date-indexed rows (calendar inputs), but {what} "
                f"has a {type(index).__name__}: index it by trade_date as for fit()"
            )
        return index

    def _windows(
        self, values: np.ndarray, dates: pd.DatetimeIndex | None
    ) -> tuple[Windows, np.ndarray]:
        """Encoder windows over standardised rows, and the origin of every full window."""
        from zlflow.models.tft.data import Windows, calendar_codes, future_calendar_codes

        assert self._standardizer is not None
        s = self.settings
        rows = self._standardizer.transform(values, float(s["input_clip"]))
        calendar = future = None
        if dates is not None:
            calendar = calendar_codes(dates)
            future = future_calendar_codes(dates, s["horizon"])
        windows = Windows.build(rows, s["encoder_length"], calendar, future)
        return windows, np.arange(s["encoder_length"] - 1, len(values))

    def _prediction_windows(
        self, X: pd.DataFrame, history: pd.DataFrame | None
    ) -> tuple[Windows, np.ndarray]:
        """Windows whose origins are the rows of ``X``, filled from ``history`` + ``X``."""
        self._network()
        selected = self._select(X)
        if selected.empty:
            raise ModelError("tft cannot predict zero rows")
        need = self.settings["encoder_length"] - 1
        past = selected.iloc[:0] if history is None else self._select(history)
        if len(past) < need:
            raise ModelError(
                f"tft needs at least {need} rows of `history` (feature rows before X) to fill "
                f"its encoder_length={need + 1} window for the first row of X, got {len(past)}; "
                "pass the frame's feature rows that precede X"
            )
        past = past.iloc[len(past) - need :]
        if len(past.index.intersection(selected.index)):
            raise ModelError("`history` must hold only rows before X, but shares index values")
        dates = None
        if self._calendar:
            x_dates = self._dated(selected.index, "X")
            past_dates = self._dated(past.index, "history")
            assert x_dates is not None and past_dates is not None
            dates = past_dates.append(x_dates)
            if not dates.is_monotonic_increasing:
                raise ModelError("history and X rows must be in increasing date order")
        values = np.vstack([_values(past), _values(selected)])
        windows, _ = self._windows(values, dates)
        return windows, np.arange(need, need + len(selected))

    # --- training -------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Self:
        """Train on rows in date order; early-stop on the last slice after a purge gap."""
        import torch

        from zlflow.models.tft.data import (
            CALENDAR,
            CALENDAR_CATEGORIES,
            Standardizer,
            split_origins,
            step_targets,
        )
        from zlflow.models.tft.model import TemporalFusionTransformer, TFTConfig
        from zlflow.models.tft.training import Batches
        from zlflow.models.tft.training import train as train_network

        target = self._check_fit_inputs(X, y)
        s = self.settings
        length, horizon = s["encoder_length"], s["horizon"]
        values = _values(X)
        if len(X) < length:
            raise ModelError(
                f"tft needs at least encoder_length={length} training rows, got {len(X)}"
            )
        reserved = {f"known_{c}" for c in CALENDAR} | {"known_position", "static_series"}
        if clash := sorted(reserved & set(self.feature_names)):
            raise ModelError(f"feature names {clash} are reserved by tft; rename them")
        self._calendar = isinstance(X.index, pd.DatetimeIndex)
        dates = self._dated(X.index, "X")
        if dates is not None and not dates.is_monotonic_increasing:
            raise ModelError("tft needs training rows in increasing date order; sort X first")
        self._standardizer = Standardizer.fit(values)
        self._target_scale = float(max(np.std(target), 1e-8))
        returns = None
        if s["return_feature"] in self.feature_names:
            returns = values[:, self.feature_names.index(s["return_feature"])]
            self._check_horizon(returns, target)
        targets, mask = step_targets(
            target / self._target_scale,
            None if returns is None else returns / self._target_scale,
            horizon,
        )
        windows, _ = self._windows(values, dates)
        train, valid = split_origins(len(X), length, horizon, s["validation_fraction"])
        self._device = resolve_device(s["device"])
        config = TFTConfig(
            observed=len(self.feature_names),
            encoder_length=length,
            horizon=horizon,
            quantiles=len(self.quantiles),
            hidden_size=s["hidden_size"],
            hidden_continuous=s["hidden_continuous"],
            attention_heads=s["attention_heads"],
            dropout=float(s["dropout"]),
            known_categories=CALENDAR_CATEGORIES if self._calendar else (),
        )
        with torch_session(self.threads, self.seed, self._device):
            self._net = TemporalFusionTransformer(config).to(self._device)
            batches = Batches(
                windows,
                torch.from_numpy(targets),
                torch.from_numpy(mask),
                torch.from_numpy(target > 0),
                self._device,
            )
            self.training_summary = train_network(
                self._net,
                batches,
                torch.from_numpy(train),
                torch.from_numpy(valid),
                s,
                self.quantiles,
                self.seed,
            )
        return self

    def _check_horizon(self, returns: np.ndarray, target: np.ndarray) -> None:
        """Warn when ``y`` is not the sum of the next ``horizon`` returns (a wrong horizon)."""
        h = self.settings["horizon"]
        if len(target) <= h:
            return
        level = np.concatenate([[0.0], np.cumsum(np.nan_to_num(returns))])
        summed = level[h + 1 :] - level[1:-h]
        close = np.isclose(summed, target[: len(summed)], rtol=1e-6, atol=1e-9)
        if close.mean() < 0.5:
            log.warning(
                "tft: y is not the sum of the next %d %r values on most rows; is `horizon` "
                "the workflow's horizon_days? Intermediate decoder steps assume it is",
                h,
                self.settings["return_feature"],
            )

    # --- prediction -----------------------------------------------------------------------

    def _network(self) -> TemporalFusionTransformer:
        self.feature_names  # noqa: B018 - raises if the model is not fitted
        if self._net is None:
            raise ModelError("tft model is not fitted: call fit() or load() first")
        return self._net

    def _forward(
        self, X: pd.DataFrame, history: pd.DataFrame | None, keep: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """One no-grad pass over the rows of ``X``: outputs as numpy arrays, in row order.

        ``keep`` names the outputs to collect (default all): a forecast needs neither the
        per-step selection weights nor the attention, ~15 KB a row.
        """
        import torch

        net = self._network()
        windows, origins = self._prediction_windows(X, history)
        assert self._device is not None
        parts: dict[str, list[np.ndarray]] = {}
        with torch_session(self.threads, self.seed, self._device), torch.no_grad():
            net.eval()
            for chunk in torch.from_numpy(origins).split(self.settings["batch_size"]):
                rows, index, known = windows.shared(chunk)
                out = net(
                    rows.to(self._device), to_device(known, self._device), index.to(self._device)
                )
                for key, value in out._asdict().items():
                    if keep is None or key in keep:
                        parts.setdefault(key, []).append(value.cpu().numpy())
        return {key: np.concatenate(value) for key, value in parts.items()}

    def predict_raw_quantiles(
        self, X: pd.DataFrame, history: pd.DataFrame | None = None
    ) -> np.ndarray:
        """Last decoder step's quantiles of the h-session log return, unsorted."""
        out = self._forward(X, history, keep=("quantiles",))
        return out["quantiles"][:, -1, :].astype(float) * self._target_scale

    def predict_quantiles(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Quantiles sorted along each row, so intervals never invert."""
        return np.sort(self.predict_raw_quantiles(X, history), axis=1)

    def predict_p_up(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Sigmoid of the direction head: P(h-session log return > 0)."""
        out = self._forward(X, history, keep=("direction_logit",))
        logit = out["direction_logit"].astype(float)
        return 1.0 / (1.0 + np.exp(-logit))

    # --- interpretation ---------------------------------------------------------------------

    def explain(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """Integrated gradients of the raw median, per feature, summed over encoder steps.

        The baseline is the training-mean window (standardised value 0, nothing missing)
        with the same calendar, so ``base_value`` is the median forecast for an average
        window on that date; gradients are averaged over ``explain_steps`` midpoints of the
        straight path to the actual window. Completeness makes the contributions add up to
        raw median - baseline; the small discretisation remainder is folded into
        ``base_value`` so every row sums exactly to the raw median, as the interface asks.
        """
        median = self._median_index()
        net = self._network()
        windows, origins = self._prediction_windows(X, history)
        assert self._device is not None
        contributions, raw = tft_explain.integrated_gradients(
            net,
            windows,
            origins,
            self.settings["explain_steps"],
            median,
            self._device,
            self.threads,
            self.seed,
        )
        values = contributions.astype(float) * self._target_scale
        median_raw = raw.astype(float) * self._target_scale
        wide = pd.DataFrame(values, index=X.index, columns=self.feature_names)
        wide["base_value"] = median_raw - values.sum(axis=1)
        return wide

    def _median_index(self) -> int:
        if MEDIAN not in self.quantiles:
            raise ModelError(
                f"explain() needs the 0.5 quantile, but quantiles are {list(self.quantiles)}; "
                "add 0.5 to `quantiles`"
            )
        return self.quantiles.index(MEDIAN)

    def baseline_median(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Raw median forecast for the training-mean window on each row's dates."""
        net = self._network()
        windows, origins = self._prediction_windows(X, history)
        assert self._device is not None
        median = tft_explain.baseline_median(
            net, windows, origins, self._median_index(), self._device, self.threads, self.seed
        )
        return median.astype(float) * self._target_scale

    def variable_importance(
        self, X: pd.DataFrame, history: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Variable-selection weights per row, averaged over time steps.

        Columns are a (block, variable) MultiIndex: ``encoder`` (features and known
        inputs; they sum to 1), ``decoder`` (known inputs; sum to 1) and ``static``.
        """
        return self._importance(self._forward(X, history), X.index)

    def _importance(self, out: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
        return tft_explain.selection_weights(out, self.feature_names, self._calendar, index)

    def attention(
        self, X: pd.DataFrame, history: pd.DataFrame | None = None, step: int | None = None
    ) -> np.ndarray:
        """Head-averaged attention on encoder positions, ``(rows, encoder_length)``.

        Column ``j`` is the row ``encoder_length - 1 - j`` sessions before the origin
        (the last column is the origin itself). ``step`` picks one decoder step (1-based);
        by default the weights are averaged over decoder steps. Each row sums to at most 1:
        the rest of the attention falls on earlier decoder steps.
        """
        return self._attention(self._forward(X, history), step)

    def _attention(self, out: dict[str, np.ndarray], step: int | None) -> np.ndarray:
        s = self.settings
        return tft_explain.attention_weights(out, s["encoder_length"], s["horizon"], step)

    def interpretation(self, X: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """Variable-selection weights (``encoder:<var>``, ``decoder:<var>``,
        ``static:<var>``) and attention averaged over decoder steps (``attention:t-<k>``,
        ``k`` sessions before the origin) for each row of ``X``."""
        out = self._forward(X, history)  # one forward pass for both
        weights = self._importance(out, X.index)
        weights.columns = [f"{block}:{name}" for block, name in weights.columns]
        attention = self._attention(out, None)
        length = attention.shape[1]
        lags = [f"attention:t-{length - 1 - j}" for j in range(length)]
        return pd.concat([weights, pd.DataFrame(attention, index=X.index, columns=lags)], axis=1)

    # --- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``model.pt`` (state_dict) and ``model.json`` (settings, scaling, features)."""
        net = self._network()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        assert self._standardizer is not None
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        _atomic_torch_save(state, directory / WEIGHTS)
        import torch

        write_json_atomic(
            directory / METADATA_FILE,
            {
                "name": self.name,
                "quantiles": list(self.quantiles),
                "params": self.params,
                "seed": self.seed,
                "threads": self.threads,
                "features": self.feature_names,
                "network": net.config.to_dict(),
                "standardizer": self._standardizer.to_dict(),
                "target_scale": self._target_scale,
                "calendar": self._calendar,
                "training": self.training_summary,
                "torch_version": torch.__version__,
            },
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Restore a model written by ``save``; same device and threads, same predictions."""
        import torch

        from zlflow.models.tft.data import Standardizer
        from zlflow.models.tft.model import TemporalFusionTransformer, TFTConfig

        directory = Path(directory)
        meta = cls._read_metadata(directory)
        weights = directory / WEIGHTS
        if not weights.is_file():
            raise ModelError(f"{weights} is missing; re-run the fit that wrote {directory}")
        model = cls(meta["quantiles"], meta["params"], seed=meta["seed"], threads=meta["threads"])
        model._features = list(meta["features"])
        model._standardizer = Standardizer.from_dict(meta["standardizer"])
        model._target_scale = float(meta["target_scale"])
        model._calendar = bool(meta["calendar"])
        model.training_summary = dict(meta.get("training", {}))
        model._device = resolve_device(model.settings["device"])
        net = TemporalFusionTransformer(TFTConfig.from_dict(meta["network"]))
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        model._net = net.to(model._device).eval()
        return model
