"""Temporal Fusion Transformer (Lim et al. 2021) in plain PyTorch, as the "tft" model.

Importing this package does not import torch: ``forecaster`` imports it on first use, so
the model registry stays cheap for commands that never train a TFT.
"""

from __future__ import annotations

from zlflow.models.tft.forecaster import TFTForecaster

__all__ = ["TFTForecaster"]
