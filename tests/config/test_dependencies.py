"""`endpoints[].depends_on`: names or label selectors; unknown refs and cycles are located errors."""

from __future__ import annotations

from slowatch.config.dependencies import closure, dependency_map, dependents_map
from tests.config.conftest import Errors, Loader

BASE = """
endpoints:
  - {name: db, kind: tcp, host: 127.0.0.1, port: 5432, labels: {tier: data}}
  - {name: cache, kind: tcp, host: 127.0.0.1, port: 6379, labels: {tier: data}}
  - {name: auth, kind: tcp, host: 127.0.0.1, port: 81, depends_on: [{labels: {tier: data}}]}
  - {name: api, kind: tcp, host: 127.0.0.1, port: 80, depends_on: [auth, db]}
"""


def test_names_and_selectors_resolve(load_config: Loader) -> None:
    config = load_config(BASE)
    deps = dependency_map(config)
    assert deps == {"auth": ("db", "cache"), "api": ("auth", "db")}
    assert dependents_map(deps) == {"db": ("auth", "api"), "cache": ("auth",), "auth": ("api",)}
    assert closure("api", deps) == ["auth", "db", "cache"]  # nearest first
    assert closure("db", dependents_map(deps)) == ["auth", "api"]


def test_cycle_is_a_located_error(errors: Errors) -> None:
    found = errors("""
    endpoints:
      - {name: a, kind: tcp, host: 127.0.0.1, port: 1, depends_on: [b]}
      - {name: b, kind: tcp, host: 127.0.0.1, port: 2, depends_on: [c]}
      - {name: c, kind: tcp, host: 127.0.0.1, port: 3, depends_on: [x, a]}
    """)
    assert found == [
        "5:65 endpoints[2].depends_on[0]: unknown endpoint 'x'",
        "5:68 endpoints[2].depends_on[1]: dependency cycle: a -> b -> c -> a",
    ]


def test_self_dependency_and_selector_cycle(errors: Errors) -> None:
    found = errors("""
    endpoints:
      - {name: a, kind: tcp, host: 127.0.0.1, port: 1, depends_on: [a]}
      - {name: b, kind: tcp, host: 127.0.0.1, port: 2, labels: {t: x}, depends_on: [{labels: {t: y}}]}
      - {name: c, kind: tcp, host: 127.0.0.1, port: 3, labels: {t: y}, depends_on: [{labels: {t: x}}]}
      - {name: d, kind: tcp, host: 127.0.0.1, port: 4, depends_on: [{labels: {t: nope}}]}
    """)
    assert any("endpoints[0].depends_on[0]: endpoint 'a' cannot depend on itself" in f for f in found), found
    assert any("dependency cycle: b -> c -> b" in f for f in found), found
    assert any("endpoints[3].depends_on[0]: label selector {'t': 'nope'} matches no endpoint" in f for f in found)
