"""zlflow: a warehouse-first forecasting workflow for CBOT soybean oil futures (ZL)."""

__version__ = "0.1.0"
