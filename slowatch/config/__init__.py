"""The typed, frozen Config tree and the loader that builds it from one YAML file.

    config = load("config/slowatch.yaml")          # or load_text(text, "name.yaml", env={...})

Both raise `slowatch.errors.ConfigError` listing every located problem. Nothing else in slowatch
reads YAML or environment variables for configuration.
"""

from slowatch.config.loader import load, load_text
from slowatch.config.schema import Config

__all__ = ["Config", "load", "load_text"]
