"""Fakes for the PVE client tests: a scripted HTTPS transport and a fake clock.

``ScriptedAdapter`` stands in for the network under proxmoxer's own session: it answers each
request from a per-route script (status, PVE reason phrase, data, ``errors``) or raises a given
requests exception, and records what was sent. The fake clock's ``sleep`` advances time, so
retry and poll policies run instantly and their pauses can be asserted exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter

SECRET = "0b9d7c3e-5f1a-4e2b-9c8d-7a6b5c4d3e2f"


@dataclass
class Reply:
    """One scripted answer: PVE puts its message in the HTTP reason phrase."""

    status: int = 200
    data: Any = None
    reason: str = ""
    errors: dict[str, str] | None = None


@dataclass
class Sent:
    """One recorded request."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class ScriptedAdapter(BaseAdapter):
    """Answers by (method, path) from scripts; the last outcome of a script repeats."""

    scripts: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def on(self, method: str, path: str, *outcomes: Any) -> ScriptedAdapter:
        self.scripts[(method, path)] = list(outcomes)
        return self

    def calls(self, method: str | None = None, path: str | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if (method is None or s.method == method) and (path is None or s.path == path)
        ]

    def send(  # noqa: PLR0917 - the signature requests gives adapters
        self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None
    ):
        url = urlsplit(request.url)
        # Decode per segment, keeping an encoded "/" inside a segment visible as %2F.
        path = "/".join(unquote(seg).replace("/", "%2F") for seg in url.path.split("/"))
        path = path.removeprefix("/api2/json")
        params = dict(parse_qsl(url.query))
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            params.update(parse_qsl(body))
        self.sent.append(Sent(request.method, path, params, dict(request.headers)))
        script = self.scripts.get((request.method, path))
        if not script:
            outcome: Any = Reply(501, reason=f"Method '{request.method} {path}' not implemented")
        elif len(script) > 1:
            outcome = script.pop(0)
        else:
            outcome = script[0]
        if isinstance(outcome, BaseException):
            raise outcome
        resp = requests.Response()
        resp.status_code = outcome.status
        resp.reason = outcome.reason or ("OK" if outcome.status < 400 else "error")
        body_obj: dict[str, Any] = {"data": outcome.data}
        if outcome.errors is not None:
            body_obj["errors"] = outcome.errors
        resp._content = json.dumps(body_obj).encode()
        resp.headers["Content-Type"] = "application/json;charset=UTF-8"
        resp.url = request.url
        resp.request = request
        return resp

    def close(self) -> None:
        pass


@dataclass
class FakeClock:
    """Monotonic and wall time that only ``sleep`` moves."""

    now: float = 1000.0
    epoch: float = 1_760_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
