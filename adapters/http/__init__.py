"""The HTTP side of `ledger serve`: /metrics, /health and /ready."""

from adapters.http.server import MetricsServer, Probe, make_app

__all__ = ["MetricsServer", "Probe", "make_app"]
