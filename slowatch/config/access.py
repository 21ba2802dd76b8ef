"""Who may read what: `server.auth` (the operator's tokens) and each consumer's `access` block.

    server:
      auth:
        operator_tokens: ["${SLOWATCH_OPERATOR_TOKEN}"]   # the overview, the full API, every consumer
        protect_metrics: false                             # true: /metrics needs an operator token too
        annotation_tokens: ["${DEPLOY_TOKEN}"]             # optional: may only POST /api/v1/annotations
    consumers:
      - name: checkout
        access: {tokens: ["${CHECKOUT_TOKEN}"]}            # or {public: true}

Tokens are SecretStr: never logged, echoed in errors, or shown. A consumer token that is also an operator
or annotation token is an error (its holder would read everything); two consumers may share a token,
which then reads both. Without `server.auth` nothing is
protected (local use); a consumer `access` block then is an error, since it would protect nothing.
`/metrics` holds every consumer's figures: `slowatch check` warns when it is open beyond loopback while
some consumer is not public.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, SecretStr, model_validator

from slowatch.config.types import Model, Name

if TYPE_CHECKING:
    from slowatch.config.schema import Config

MIN_TOKEN_LENGTH = 16


def _strong(token: SecretStr) -> SecretStr:
    if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ValueError(f"a token must be at least {MIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 24`)")
    return token


Token = Annotated[SecretStr, AfterValidator(_strong)]


class NamedToken(Model):
    """An operator token with a name: who recorded a correction (or annotation) is this name."""

    name: Name
    token: Token


class AuthConfig(Model):
    operator_tokens: list[Token | NamedToken] = Field(min_length=1)
    protect_metrics: bool = False
    annotation_tokens: list[Token] = Field(default_factory=list)  # may only POST /api/v1/annotations (CI deploys)

    @property
    def operator_secrets(self) -> list[tuple[str, SecretStr]]:
        """(name, token) per operator token; unnamed ones are `operator-<n>` (from 1, in config order)."""
        return [
            (t.name, t.token) if isinstance(t, NamedToken) else (f"operator-{i}", t)
            for i, t in enumerate(self.operator_tokens, 1)
        ]


class AccessConfig(Model):
    public: bool = False
    tokens: list[Token] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> AccessConfig:
        if self.public and self.tokens:
            raise ValueError("a public consumer needs no tokens: set `public: true` or `tokens`, not both")
        return self


Problem = tuple[tuple[str | int, ...], str]


def check_access(config: Config) -> Iterable[Problem]:
    auth = config.server.auth
    if auth is None:
        unprotected = "needs server.auth (an operator token): without it nothing is protected"
        for i, consumer in enumerate(config.consumers):
            if consumer.access is not None:
                yield ("consumers", i, "access"), unprotected
        return
    roles = {t.get_secret_value(): "an operator token" for _, t in auth.operator_secrets}
    for t in auth.annotation_tokens:
        roles.setdefault(t.get_secret_value(), "an annotation token")
    for i, consumer in enumerate(config.consumers):
        for j, token in enumerate(consumer.access.tokens if consumer.access is not None else ()):
            role = roles.get(token.get_secret_value())
            if role is not None:  # its holder would read (or write) far more than this consumer
                yield ("consumers", i, "access", "tokens", j), f"is also {role} in server.auth: give each its own"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(config: Config) -> str | None:
    """A warning for `slowatch check` when the pages and API are reachable beyond this host, unprotected."""
    if config.server.auth is None and not is_loopback(config.server.host):
        return (
            f"warning: server.listen {config.server.listen} is not a loopback address and nothing is protected: "
            "anyone who reaches it reads every consumer's data; set server.auth (and consumers[].access)"
        )
    return None


def metrics_exposure_warning(config: Config) -> str | None:
    """A warning for `slowatch check` when consumers are kept apart by tokens but /metrics, which holds every
    consumer's figures and names, is open to anyone who reaches a non-loopback listener."""
    auth = config.server.auth
    private = [c.name for c in config.consumers if c.access is None or not c.access.public]
    if auth is None or auth.protect_metrics or not private or is_loopback(config.server.host):
        return None
    return (
        f"warning: /metrics is open (server.auth.protect_metrics is false) on {config.server.listen}: anyone who "
        f"reaches it reads every consumer's SLO figures, names and endpoints, {len(private)} consumer(s) that "
        "tokens protect included; set protect_metrics: true and give Prometheus an operator token "
        "(scrape_config authorization: {credentials: ...})"
    )


__all__ = ["AccessConfig", "AuthConfig", "check_access", "exposure_warning", "is_loopback", "metrics_exposure_warning"]
