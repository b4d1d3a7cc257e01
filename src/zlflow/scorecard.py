"""One horizon's scorecard: scores, verdicts with significance, reliability, PIT, summary.

The domain side of the metrics rule: it takes every model's and baseline's calibrated
out-of-sample rows and returns the tables; the job writes them. Fold 0 is where
calibration learns (its outcomes mature during it), so the later folds are scored, where
every model and baseline is calibrated from earlier outcomes only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from zlflow.baselines import BASELINE_MODELS
from zlflow.ensemble import ENSEMBLE
from zlflow.explain import LIVE_FOLD
from zlflow.metrics import evaluate
from zlflow.verdicts import REFERENCES, pit_table, reliability_table, summary_lines, verdict_table

log = logging.getLogger("zlflow")


@dataclass(frozen=True)
class ScoreSettings:
    """The metrics job's settings: the horizon, its quantiles, the bootstrap's seed."""

    horizon: str
    horizon_days: int
    quantiles: tuple[float, ...]
    seed: int

    @classmethod
    def from_rule(
        cls, horizon: str, horizon_days: int, settings: Mapping[str, Any]
    ) -> ScoreSettings:
        """From the metrics rule's params (``settings``: quantiles and seed)."""
        return cls(horizon, int(horizon_days), tuple(settings["quantiles"]), int(settings["seed"]))


@dataclass(frozen=True)
class Scorecard:
    """The metrics job's tables (each written as CSV) and its summary in words."""

    overall: pd.DataFrame
    by_fold: pd.DataFrame
    by_regime: pd.DataFrame
    verdicts: pd.DataFrame
    reliability: pd.DataFrame
    pit: pd.DataFrame
    summary: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by the metrics rule's output names."""
        return {
            "overall": self.overall,
            "by_fold": self.by_fold,
            "by_regime": self.by_regime,
            "verdicts": self.verdicts,
            "reliability": self.reliability,
            "pit": self.pit,
        }


def scorecard(oos: pd.DataFrame, settings: ScoreSettings) -> Scorecard:
    """Score calibrated out-of-sample rows of models and baselines (live rows are ignored)."""
    quantiles = list(settings.quantiles)
    oos = oos[oos["fold"] != LIVE_FOLD]
    scored = oos[oos["fold"] >= 1]
    uncalibrated_rows = scored[~scored["calibrated"].astype(bool)]
    if not uncalibrated_rows.empty:
        log.warning(
            "%d scored rows are not calibrated (too few matured outcomes): %s",
            len(uncalibrated_rows),
            uncalibrated_rows.groupby("model").size().to_dict(),
        )
    verdicts = verdict_table(scored, quantiles, settings.horizon_days, seed=settings.seed)
    ranked = (
        [ENSEMBLE]
        + sorted(set(scored["model"]) - {ENSEMBLE} - set(BASELINE_MODELS))
        + [m for m in BASELINE_MODELS if m not in REFERENCES]
    )
    summary = [
        f"Horizon {settings.horizon} ({settings.horizon_days} sessions): out-of-sample folds "
        f"1..{int(scored['fold'].max())}, {scored['trade_date'].nunique()} forecast dates. "
        f"Every forecast was calibrated only from outcomes known on its date.",
        "Verdict rule: 'beats'/'loses' only with a Diebold-Mariano p < 0.05 (Newey-West "
        f"variance, lag {int(verdicts['hac_lag'].max())}); coverage 'holds' when its 95% "
        "block-bootstrap interval contains the nominal level.",
        "",
        *summary_lines(
            verdicts,
            settings.horizon,
            settings.horizon_days,
            [m for m in ranked if m in set(verdicts["model"])],
        ),
    ]
    return Scorecard(
        overall=evaluate(scored, quantiles, ["model"]),
        by_fold=evaluate(oos, quantiles, ["model", "fold"]),
        by_regime=evaluate(scored, quantiles, ["model", "regime"]),
        verdicts=verdicts,
        reliability=reliability_table(scored),
        pit=pit_table(scored, quantiles),
        summary=summary,
    )
