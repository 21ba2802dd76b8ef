"""`server.event_loop`: which loop the daemon and its workers run on."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from slowatch import loops


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_and_uvloop_run_on_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert loops.run(_loop_type(), "auto").startswith("uvloop")
    assert loops.run(_loop_type(), "uvloop").startswith("uvloop")
    assert loops.loop_name("auto") == "uvloop"


def test_asyncio_forces_the_standard_loop() -> None:
    assert loops.run(_loop_type(), "asyncio").startswith("asyncio")
    assert loops.loop_name("asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert loops.loop_factory("auto") is None
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        loops.loop_factory("uvloop")
