"""Fixtures for config tests: configs are written to a real file so messages carry a real name."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from slowatch.config import Config, load
from slowatch.errors import ConfigError

Errors = Callable[..., list[str]]
Loader = Callable[..., Config]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "slowatch.yaml"


@pytest.fixture
def load_config(config_path: Path) -> Loader:
    """Write dedented YAML to the config file and load it (env defaults to an empty mapping)."""

    def run(text: str, env: Mapping[str, str] | None = None) -> Config:
        config_path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load(config_path, env=env or {})

    return run


@pytest.fixture
def errors(config_path: Path, load_config: Loader) -> Errors:
    """Load YAML that must fail; each problem as `line:col path: message` (the file name checked, cut)."""

    def run(text: str, env: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load_config(text, env)
        out = []
        for problem in info.value.problems:
            assert problem.file == str(config_path)
            rendered = str(problem)
            assert rendered.startswith(f"{config_path}:")
            out.append(rendered.removeprefix(f"{config_path}:").lstrip())
        return out

    return run
