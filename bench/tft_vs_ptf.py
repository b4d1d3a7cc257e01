"""zlflow's TFT against pytorch-forecasting's TemporalFusionTransformer on the real sample.

    bench/setup_ptf.sh                                  # once: bench/.venv-ptf
    .venv/bin/python bench/tft_vs_ptf.py [--epochs 3] [--repeats 3] [--only zlflow]
                                         [--consecutive-origins 1]

Same data and sizes for both, as in the issue's reference: ZL from the workflow's export,
24 technical features plus the (roll-adjusted) close as observed inputs, day of week and
month as known categoricals, hidden size 16, per-variable (hidden_continuous) size 8, 2
attention heads, encoder 63 sessions, horizon 21, batch 64, quantiles
0.02/0.1/0.5/0.9/0.98, 2 CPU threads, ``--epochs`` epochs with no early stopping.
Training windows end before 2019-01-01; validation origins are the sessions from
2019-01-01 to 2024-05-31 whose 21-session target is known.

Both are scored on the same validation origins with pytorch-forecasting's QuantileLoss
(twice the pinball loss, averaged over quantiles) on the price in cents/lb, 21 sessions
ahead: zlflow's TFT forecasts the 21-session log return, turned into price quantiles as
close x exp(q). pytorch-forecasting forecasts every step 1..21; its loss over all steps
is reported too. The naive baseline is the last price plus the training period's
empirical quantiles of the h-session change, per step h. Each model trains in its own
child process (pytorch-forecasting in bench/.venv-ptf), so peak RSS is its own; each
worker also reports its peak RSS once its imports are done, so the row shows what
training itself adds. ``--only zlflow`` times our side alone (no bench/.venv-ptf needed);
``--consecutive-origins 1`` trains zlflow's TFT on origins drawn one by one, as
pytorch-forecasting does (the default draws runs of neighbours, see the model's docs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTF_PYTHON = ROOT / "bench" / ".venv-ptf" / "bin" / "python"
QUANTILES = (0.02, 0.1, 0.5, 0.9, 0.98)
ENCODER, HORIZON, HIDDEN, HEADS, BATCH = 63, 21, 16, 2, 64
HIDDEN_CONTINUOUS = 8  # per-variable embedding/GRN width, both models
TRAIN_END = "2019-01-01"
VALID_END = "2024-05-31"
TA_FEATURES = (
    "ret_1d",
    "ret_5d",
    "ret_21d",
    "ret_63d",
    "sma_ratio_10",
    "sma_ratio_20",
    "sma_ratio_50",
    "sma_ratio_200",
    "ema_ratio_10",
    "ema_ratio_20",
    "ema_ratio_50",
    "ema_ratio_200",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_pctb_20",
    "atr_14_pct",
    "rv_5",
    "rv_21",
    "rv_63",
    "volume_z_21",
    "dist_52w_high",
    "dist_52w_low",
)


def quantile_loss(y, predicted):
    """pytorch-forecasting's QuantileLoss: 2 x pinball, mean over quantiles and rows.

    ``y`` has shape (n,) or (n, steps); ``predicted`` one more axis of len(QUANTILES).
    """
    import numpy as np

    errors = y[..., None] - predicted
    q = np.asarray(QUANTILES)
    return float(np.mean(2 * np.maximum((q - 1) * errors, q * errors)))


def prepare(folder: Path) -> Path:
    """The shared frame: dates, price, the 24 features, targets, split flags."""
    import numpy as np
    import pandas as pd
    from common import ensure_export

    from zlflow.backtest import read_training

    export, _ = ensure_export()
    frame, _ = read_training(export)
    frame = frame.sort_values("trade_date").reset_index(drop=True)
    out = frame[["trade_date", *TA_FEATURES]].copy()
    out["price"] = frame["adj_close"].astype(float)
    out["target_log_return"] = frame["target_log_return"].astype(float)
    out["time_idx"] = np.arange(len(out), dtype="int64")
    known = frame["target_date"].notna()
    out["train"] = known & (frame["target_date"] < pd.Timestamp(TRAIN_END))
    origin = frame["trade_date"].between(pd.Timestamp(TRAIN_END), pd.Timestamp(VALID_END))
    out["valid_origin"] = origin & known & (out["time_idx"] + HORIZON < len(out))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tft_frame.parquet"
    out.to_parquet(path, index=False)
    return path


def naive(path: Path) -> dict[str, float]:
    """Last price plus the training period's empirical quantiles of the h-session change."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path)
    price = frame["price"].to_numpy()
    train_rows = np.flatnonzero(frame["train"].to_numpy())
    origins = np.flatnonzero(frame["valid_origin"].to_numpy())
    last_train = train_rows.max() + HORIZON  # the last row a training target reaches
    steps_y, steps_q = [], []
    for h in range(1, HORIZON + 1):
        start = np.arange(0, last_train - h + 1)
        change = price[start + h] - price[start]
        q = np.quantile(change, QUANTILES)
        steps_y.append(price[origins + h])
        steps_q.append(price[origins, None] + q[None, :])
    y, predicted = np.stack(steps_y, axis=1), np.stack(steps_q, axis=1)
    return {
        "loss_step21": quantile_loss(y[:, -1], predicted[:, -1]),
        "loss_all_steps": quantile_loss(y, predicted),
        "origins": len(origins),
    }


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_zlflow(path: Path, epochs: int, consecutive_origins: int | None) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from common import dated_features

    from zlflow.models.tft.forecaster import TFTForecaster

    import_rss = _peak_rss_mb()
    frame = pd.read_parquet(path)
    features = [*TA_FEATURES, "price"]
    train = frame[frame["train"]]
    valid = frame[frame["valid_origin"]]
    params = {
        "hidden_size": HIDDEN,
        "hidden_continuous": HIDDEN_CONTINUOUS,
        "attention_heads": HEADS,
        "encoder_length": ENCODER,
        "horizon": HORIZON,
        "batch_size": BATCH,
        "max_epochs": epochs,
        "validation_fraction": 0.0,  # no early stopping: exactly `epochs` epochs
        "device": "cpu",
    }
    if consecutive_origins is not None:
        params["consecutive_origins"] = consecutive_origins
    model = TFTForecaster(QUANTILES, params, seed=42, threads=2)
    x_train = dated_features(train, features)
    started = time.perf_counter()
    model.fit(x_train, train["target_log_return"].set_axis(x_train.index))
    fit_s = time.perf_counter() - started
    history = dated_features(frame[frame["trade_date"] < valid["trade_date"].iloc[0]], features)
    log_q = model.predict_quantiles(dated_features(valid, features), history)
    price = valid["price"].to_numpy()
    y = price * np.exp(valid["target_log_return"].to_numpy())
    net = model._network()
    return {
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "epochs": model.training_summary["epochs"],
        "fit_s": fit_s,
        "seconds_per_epoch": model.training_summary["seconds"] / model.training_summary["epochs"],
        "train_origins": model.training_summary["train_origins"],
        "loss_step21": quantile_loss(y, price[:, None] * np.exp(log_q)),
        "origins": len(valid),
        "import_rss_mb": import_rss,
        "consecutive_origins": model.settings["consecutive_origins"],
        "torch": torch.__version__,
    }


def worker_ptf(path: Path, epochs: int) -> dict:
    import lightning.pytorch as pl
    import numpy as np
    import pandas as pd
    import pytorch_forecasting
    import torch
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
    from pytorch_forecasting.metrics import QuantileLoss

    import_rss = _peak_rss_mb()
    torch.set_num_threads(2)
    pl.seed_everything(42, workers=True)
    frame = pd.read_parquet(path)
    frame["series"] = "ZL"
    frame["dow"] = frame["trade_date"].dt.dayofweek.astype(str).astype("category")
    frame["month"] = frame["trade_date"].dt.month.astype(str).astype("category")
    idx = frame["time_idx"].to_numpy()
    last_train_origin = idx[frame["train"].to_numpy()].max()
    origins = idx[frame["valid_origin"].to_numpy()]
    common = {
        "time_idx": "time_idx",
        "target": "price",
        "group_ids": ["series"],
        "max_encoder_length": ENCODER,
        "min_encoder_length": ENCODER,
        "max_prediction_length": HORIZON,
        "min_prediction_length": HORIZON,
        "time_varying_known_categoricals": ["dow", "month"],
        "time_varying_unknown_reals": [*TA_FEATURES, "price"],
    }
    training = TimeSeriesDataSet(frame[idx <= last_train_origin + HORIZON], **common)
    validation = TimeSeriesDataSet.from_dataset(
        training,
        frame[idx <= origins.max() + HORIZON],
        min_prediction_idx=int(origins.min()) + 1,
        predict=False,
        stop_randomization=True,
    )
    train_dl = training.to_dataloader(train=True, batch_size=BATCH, num_workers=0)
    valid_dl = validation.to_dataloader(train=False, batch_size=BATCH, num_workers=0)

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            self._tic = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            self.seconds.append(time.perf_counter() - self._tic)

    timer = EpochTimer()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        gradient_clip_val=1.0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        limit_val_batches=0,
        callbacks=[timer],
        deterministic=True,
    )
    tft = TemporalFusionTransformer.from_dataset(
        training,
        learning_rate=1e-3,
        hidden_size=HIDDEN,
        attention_head_size=HEADS,
        dropout=0.1,
        hidden_continuous_size=HIDDEN_CONTINUOUS,
        loss=QuantileLoss(list(QUANTILES)),
        log_interval=-1,
    )
    started = time.perf_counter()
    trainer.fit(tft, train_dataloaders=train_dl)
    fit_s = time.perf_counter() - started
    out = tft.predict(valid_dl, mode="quantiles", return_y=True, trainer_kwargs={"logger": False})
    predicted = out.output.cpu().numpy()
    y = out.y[0].cpu().numpy()
    if predicted.shape[0] != len(origins):
        raise RuntimeError(f"{predicted.shape[0]} validation windows, expected {len(origins)}")
    return {
        "parameters": int(sum(p.numel() for p in tft.parameters())),
        "epochs": len(timer.seconds),
        "fit_s": fit_s,
        "seconds_per_epoch": float(np.median(timer.seconds)),
        "train_windows": len(training),
        "loss_step21": quantile_loss(y[:, -1], predicted[:, -1]),
        "loss_all_steps": quantile_loss(y, predicted),
        "origins": int(predicted.shape[0]),
        "import_rss_mb": import_rss,
        "pytorch_forecasting": pytorch_forecasting.__version__,
        "torch": torch.__version__,
    }


def _summary(runs: list, prefix: str) -> dict:
    """Per-model columns of the result row: runs, medians, peak RSS total and above imports."""
    from common import median

    epoch = [p["seconds_per_epoch"] for _, p in runs]
    peak = max(r.peak_rss_mb for r, _ in runs)
    imports = max(p["import_rss_mb"] for _, p in runs)
    return {
        f"{prefix}_parameters": runs[-1][1]["parameters"],
        f"{prefix}_s_per_epoch_runs": [round(x, 2) for x in epoch],
        f"{prefix}_s_per_epoch": round(median(epoch), 2),
        f"{prefix}_peak_rss_mb": round(peak),
        f"{prefix}_import_rss_mb": round(imports),
        f"{prefix}_rss_above_imports_mb": round(peak - imports),
        f"{prefix}_loss_step21_runs": [round(p["loss_step21"], 4) for _, p in runs],
        f"{prefix}_loss_step21": round(median([p["loss_step21"] for _, p in runs]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["zlflow"], help="time one side alone")
    parser.add_argument(
        "--consecutive-origins",
        type=int,
        help="zlflow's batch sampling (default: the model's; 1 draws origins one by one)",
    )
    parser.add_argument("--worker", choices=["zlflow", "ptf"])
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "zlflow":
            result = worker_zlflow(args.path, args.epochs, args.consecutive_origins)
        else:
            result = worker_ptf(args.path, args.epochs)
        print(json.dumps(result))
        return

    from common import DATA_DIR, emit, load_average, median, python_worker, run_measured

    if args.only is None and not PTF_PYTHON.exists():
        sys.exit(f"{PTF_PYTHON} is missing: run bench/setup_ptf.sh first, or pass --only zlflow")
    path = prepare(DATA_DIR)
    baseline = naive(path)
    script = str(Path(__file__).resolve())
    worker_args = ["--path", str(path), "--epochs", str(args.epochs)]
    if args.consecutive_origins is not None:  # the ptf worker ignores it
        worker_args += ["--consecutive-origins", str(args.consecutive_origins)]
    ours, theirs, load = [], [], load_average()
    for _ in range(args.repeats):
        ours.append(python_worker(script, "--worker", "zlflow", *worker_args))
        if args.only is None:
            run = run_measured([str(PTF_PYTHON), script, "--worker", "ptf", *worker_args], cwd=ROOT)
            theirs.append((run, json.loads(run.stdout.strip().splitlines()[-1])))
    row = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "load_average_at_start": load,
        "load_average_at_end": load_average(),
        "validation_origins": baseline["origins"],
        "hidden_continuous": HIDDEN_CONTINUOUS,
        **_summary(ours, "zlflow"),
        "naive_loss_step21": round(baseline["loss_step21"], 4),
        "naive_loss_all_steps": round(baseline["loss_all_steps"], 4),
        "zlflow_train_origins": ours[-1][1]["train_origins"],
        "zlflow_consecutive_origins": ours[-1][1]["consecutive_origins"],
        "torch": ours[-1][1]["torch"],
    }
    if theirs:
        row |= _summary(theirs, "ptf")
        row |= {
            "speedup_per_epoch": round(row["ptf_s_per_epoch"] / row["zlflow_s_per_epoch"], 2),
            "rss_ratio": round(row["zlflow_peak_rss_mb"] / row["ptf_peak_rss_mb"], 2),
            "ptf_loss_all_steps": round(median([p["loss_all_steps"] for _, p in theirs]), 4),
            "ptf_train_windows": theirs[-1][1]["train_windows"],
            "pytorch_forecasting": theirs[-1][1]["pytorch_forecasting"],
        }
    emit("tft_vs_ptf" if theirs else "tft_zlflow_only", row)


if __name__ == "__main__":
    main()
