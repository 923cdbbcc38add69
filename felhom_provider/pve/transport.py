"""The HTTP plumbing under ``PveClient``: session and TLS setup, counting, classification, policies.

Every request goes through ``PveTransport._request`` (counted in ``stats``, errors classified
once). ``_call`` runs a request under the *call* policy, ``_dispatch`` under the *dispatch*
policy and turns a lost answer into ``DispatchLostError`` instead of re-sending. Path
parameters are percent-encoded here, so a volid such as ``local:backup/vzdump-….tar.zst``
stays one path segment.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException
from requests.adapters import BaseAdapter

from felhom_provider.errors import (
    ConfigError,
    ConnectionLostError,
    DispatchLostError,
    PermanentPveError,
)
from felhom_provider.pve.endpoint import PveEndpoint
from felhom_provider.pve.props import SizeSpec
from felhom_provider.pve.retry import (
    PollBackoff,
    RetrySettings,
    call_policy,
    classify,
    dispatch_policy,
)
from felhom_provider.pve.stats import RequestStats
from felhom_provider.pve.tasks import Upid
from felhom_provider.pve.tls import tls_setup


class PveTransport:
    """Requests to one PVE node with an API token; ``PveClient`` adds the endpoints.

    ``sleep``, ``clock`` (monotonic) and ``wallclock`` (epoch) are injectable so tests of
    retries and task waits run instantly; ``adapter`` replaces the HTTPS transport (tests).
    Safe to share between the engine's worker threads.
    """

    def __init__(
        self,
        endpoint: PveEndpoint,
        *,
        retry: RetrySettings | None = None,
        poll: PollBackoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        adapter: BaseAdapter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in endpoint.token_secret):
            # http.client refuses such a header and quotes it, secret included, in its error.
            raise ConfigError(
                "felhom:pveTokenSecret",
                "contains a control character (a trailing newline pasted from a file?); "
                "set it again without it",
            )
        self.endpoint = endpoint
        self.node = endpoint.node
        self.stats = RequestStats()
        self.retry = retry or RetrySettings()
        self.poll = poll or PollBackoff()
        self._sleep, self._clock, self._wallclock = sleep, clock, wallclock
        self._rng = rng or random.Random()
        tls = tls_setup(
            fingerprint=endpoint.tls_fingerprint_sha256,
            ca_bundle=endpoint.ca_bundle,
            verify_tls=endpoint.verify_tls,
            url=endpoint.url,
        )
        self.tls_mode = tls.mode
        self._api = ProxmoxAPI(
            endpoint.host,
            backend="https",
            port=endpoint.port,
            user=endpoint.user,
            token_name=endpoint.token_name,
            token_value=endpoint.token_secret,
            verify_ssl=tls.verify,
            timeout=(endpoint.connect_timeout_s, endpoint.timeout_s),
        )
        # proxmoxer builds its session privately and offers no hook for a transport adapter;
        # the pin must sit on that session, so reach for it once and fail loudly if it moved.
        session = getattr(self._api, "_store", {}).get("session")
        if not isinstance(session, requests.Session):
            raise ConfigError("proxmoxer", "unsupported proxmoxer version: no requests session")
        mounted = adapter or tls.adapter
        if mounted is not None:
            session.mount("https://", mounted)

    def __repr__(self) -> str:
        return f"PveClient({self.endpoint.url}, node={self.node!r}, tls={self.tls_mode})"

    # --- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        template: str,
        path: Mapping[str, object] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One HTTP request: counted, sent through proxmoxer, errors classified."""
        args = {"node": self.node, **(path or {})}
        # "/" is encoded so a volid stays one path segment; ":@!=" are legal in a segment.
        rel = template.format(**{k: quote(str(v), safe=":@!=") for k, v in args.items()})
        self.stats.record(method, template)
        resource = self._api(rel.strip("/").split("/"))
        try:
            return getattr(resource, method.lower())(**_encode(params or {}))
        except (ResourceException, requests.RequestException, AuthenticationError) as exc:
            raise classify(exc, method=method, path=rel) from exc

    def _call(
        self,
        method: str,
        template: str,
        path: Mapping[str, object] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
    ) -> Any:
        policy = call_policy(self.retry, self._sleep, idempotent=idempotent, rng=self._rng)
        return policy(self._request, method, template, path, params)

    def _dispatch(
        self,
        method: str,
        template: str,
        path: Mapping[str, object] | None,
        params: Mapping[str, Any] | None,
        *,
        task_type: str,
        vmid: int | None,
    ) -> Any:
        sent_at = [self._wallclock()]

        def attempt() -> Any:
            sent_at[0] = self._wallclock()
            return self._request(method, template, path, params)

        try:
            return dispatch_policy(self.retry, self._sleep, self._rng)(attempt)
        except ConnectionLostError as exc:
            if isinstance(exc, DispatchLostError):
                raise
            raise DispatchLostError(
                f"answer to {method} {exc.context.get('path', template)} was lost; the "
                f"{task_type} task may be running, so the request is not re-sent",
                task_type=task_type,
                vmid=vmid,
                sent_at=sent_at[0],
                status=exc.status,
                method=method,
                path=exc.context.get("path"),
            ) from exc

    def _upid(self, raw: Any, what: str) -> Upid:
        try:
            return Upid.parse(str(raw))
        except ValueError:
            raise PermanentPveError(f"{what}: expected a task id, PVE answered {raw!r}") from None

    def _task(self, method: str, template: str, vmid: int, task_type: str, **params: Any) -> Upid:
        raw = self._dispatch(
            method, template, {"vmid": vmid}, params, task_type=task_type, vmid=vmid
        )
        return self._upid(raw, f"{method} {template}")


def _encode(params: Mapping[str, Any]) -> dict[str, Any]:
    """PVE wants booleans as 1/0 and lists as comma-separated strings; ``None`` means unset."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, list | tuple | set | frozenset):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, SizeSpec | Upid):
            out[key] = str(value)
        else:
            out[key] = value
    return out
