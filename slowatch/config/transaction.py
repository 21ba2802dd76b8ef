"""`kind: transaction`: several HTTP requests in order, each with its own checks, passing values on.

A step may extract values from its response (`extract:`) that later steps use as `{{steps.<step>.<var>}}`
in their URL, headers and body. That syntax is not the loader's `${VAR}` (environment, at load time):
`{{...}}` is filled in at probe time, from the run's own responses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from slowatch.config.endpoint_base import (
    ByteSize,
    EndpointBase,
    HttpExpect,
    TlsClient,
    check_json_path,
    check_regex,
    http_method,
    request_url,
)
from slowatch.config.step_url import STEP_REF, UrlTemplate
from slowatch.config.types import Headers, Model, Timeout

_STEP_NAME = r"^[A-Za-z_][\w-]{0,62}$"


class Extract(Model):
    """Exactly one of `json_path` (a value of the JSON body), `header` (a response header) or `regex`
    (searched in the body text: its first group, or the whole match when it has none)."""

    json_path: str | None = None
    header: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Extract:
        if sum(v is not None for v in (self.json_path, self.header, self.regex)) != 1:
            raise ValueError("set exactly one of json_path, header, regex")
        if self.json_path is not None:
            check_json_path(self.json_path)
        if self.regex is not None:
            check_regex(self.regex)
        return self


class Step(Model):
    name: Annotated[str, Field(pattern=_STEP_NAME)]
    url: str
    method: str = "GET"
    headers: Headers = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    expect: HttpExpect = Field(default_factory=HttpExpect)
    max_latency: Timeout | None = None
    """The step fails (`assertion_failed`) when its response takes longer than this."""
    extract: dict[Annotated[str, Field(pattern=_STEP_NAME)], Extract] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        request_url(UrlTemplate.parse(v).placeholder())  # (the template's references filled in with values that fit)
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        return http_method(v)

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        given = [k for k in ("body", "json_body", "form") if k in self.model_fields_set]
        if len(given) > 1:
            raise ValueError("set one of body, json, form")
        return self

    def templates(self) -> list[str]:
        """Every text of the step that may hold `{{steps...}}` references."""
        texts = [self.url, self.body or "", *(v.get_secret_value() for v in self.headers.values())]
        texts += list((self.form or {}).values())
        if "json_body" in self.model_fields_set:
            texts.append(repr(self.json_body))
        return texts


class TransactionEndpoint(EndpointBase):
    """`timeout` bounds the whole run (every step); a failure names its step."""

    kind: Literal["transaction"]
    steps: Annotated[list[Step], Field(min_length=1, max_length=20)]
    tls: TlsClient = Field(default_factory=TlsClient)
    follow_redirects: bool = True
    max_redirects: Annotated[int, Field(ge=1, le=50)] = 10
    max_body_size: ByteSize = 1 << 20

    @field_validator("tls")
    @classmethod
    def _one_name(cls, tls: TlsClient) -> TlsClient:
        if tls.server_name is not None:
            raise ValueError("server_name is for kind: http; a transaction's steps may go to several hosts")
        return tls

    @model_validator(mode="after")
    def _references(self) -> TransactionEndpoint:
        known: dict[str, set[str]] = {}
        for i, step in enumerate(self.steps):
            if step.name in known:
                raise ValueError(f"steps[{i}]: step name {step.name!r} is used twice")
            for text in step.templates():
                for ref_step, var in STEP_REF.findall(text):
                    if ref_step not in known:
                        raise ValueError(
                            f"steps[{i}] ({step.name}): {{{{steps.{ref_step}.{var}}}}} refers to no earlier step"
                        )
                    if var not in known[ref_step]:
                        raise ValueError(
                            f"steps[{i}] ({step.name}): step {ref_step!r} extracts no {var!r}"
                            f" (it extracts: {', '.join(sorted(known[ref_step])) or 'nothing'})"
                        )
            known[step.name] = set(step.extract)
        return self


__all__ = ["STEP_REF", "Extract", "Step", "TransactionEndpoint"]
