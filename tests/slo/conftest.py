"""`clock` (a FakeClock at T0) and `make_store` (stores on real SQLite files, closed after the test) for the SLO
tests that restart the service or copy its database as a kill -9 leaves it: tests/slo/restarts.py. A test file
that defines its own fixture of the same name uses its own."""

from tests.slo.restarts import clock, make_store

__all__ = ["clock", "make_store"]
