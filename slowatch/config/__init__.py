"""The typed, frozen Config tree and the loader that builds it from one YAML file.

    config = load("config/slowatch.yaml")          # or load_text(text, "name.yaml", env={...})

Both raise `slowatch.errors.ConfigError` listing every located problem. Nothing else in slowatch
reads YAML or environment variables for configuration.

The names below are resolved on first use (PEP 562): importing one submodule (a prober worker needs only
the endpoint models) must not import the loader, YAML and the whole Config tree (~10 MB per process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slowatch.config.loader import load, load_text
    from slowatch.config.schema import Config

_WHERE = {"Config": "slowatch.config.schema", "load": "slowatch.config.loader", "load_text": "slowatch.config.loader"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'slowatch.config' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Config", "load", "load_text"]
