"""slowatch: uptime probes and per-consumer SLO error budgets in one daemon."""

__version__ = "0.1.0"

__all__ = ["__version__"]
