"""A test that runs `slowatch run` or `demo` in-process leaves no logging handler behind (tests/conftest.py
`root_logging`): its handler wrote to that test's captured stderr, closed once it ended, and the next record
anyone logged printed "--- Logging error --- ValueError: I/O operation on closed file" into the run's output.
Two tests, in this order on one worker (the group)."""

from __future__ import annotations

import logging

import pytest

from slowatch.process import setup_logging

pytestmark = pytest.mark.xdist_group("root-logging")


def test_the_daemon_logs_to_the_stderr_of_this_test(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("text")  # what `slowatch run` and `slowatch demo` do first
    logging.getLogger("slowatch.test").warning("to this test's stderr")
    assert "to this test's stderr" in capsys.readouterr().err


def test_a_record_logged_in_the_next_test_reaches_no_closed_stream(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("slowatch.test").warning("later")
    assert "Logging error" not in capsys.readouterr().err
