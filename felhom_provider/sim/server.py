"""HTTPS front end and ``SimServer``, the in-process handle tests and the CLI use.

The HTTP layer does what pve-proxy/pve-http-server do around a handler: authenticate (API
token header, or ticket cookie plus CSRF header on writes), verify parameters, call the
handler, and render ``{"data": …}``; errors become PVE-shaped answers whose HTTP reason
phrase is the message's first line (proxmoxer reports that phrase as the error content).

Only loopback addresses may be bound (127.0.0.0/8).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import traceback
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from felhom_provider.sim import backup, node_boot, routes, schema
from felhom_provider.sim.auth import ADMIN_TOKEN, AGENT_TOKEN, ROOT, WEAK_TOKEN
from felhom_provider.sim.certs import ensure_cert
from felhom_provider.sim.clock import Clock, ManualClock, ScaledClock
from felhom_provider.sim.errors import AuthFailedError, NotImplementedPathError, SimApiError
from felhom_provider.sim.faults import Faults, HttpFault, TaskFault
from felhom_provider.sim.hooks import Extensions
from felhom_provider.sim.persist import atomic_write_json
from felhom_provider.sim.request import ApiRequest
from felhom_provider.sim.state import SimSettings, SimState

log = logging.getLogger(__name__)
API_PREFIX = "/api2/json"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], sim: SimServer, ctx: ssl.SSLContext) -> None:
        self.sim = sim
        self.ctx = ctx
        super().__init__(addr, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the per-connection thread, so a slow client cannot stall accept().
        try:
            # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed
            # ACKs would add ~40 ms to every keep-alive request.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(tls, client_address)


#: pve-http-server's ``$limit_max_post``: the largest request body it reads.
MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    server_version = "pve-api-daemon/3.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(self, status: int, body: dict[str, Any], reason: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=0")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: SimApiError) -> None:
        body: dict[str, Any] = {"data": None, "message": exc.message.rstrip("\n") + "\n"}
        if exc.errors:
            body["errors"] = exc.errors
        reason = exc.message.split("\n", 1)[0].replace("\r", " ")
        self._send(exc.status, body, reason)

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            # pve-http-server (PVE/APIServer/AnyEvent.pm) refuses bodies over $limit_max_post
            # (64 KiB) before reading them, and closes the connection.
            self.close_connection = True
            status, why = (413, "request too large") if length > 0 else (400, "bad length")
            self._error(SimApiError(why, status=status))
            return
        raw_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if not url.path.startswith(API_PREFIX + "/"):
            self._error(NotImplementedPathError(method, url.path))
            return
        path = url.path[len(API_PREFIX) :]
        found = routes.match(method, path)
        template = found[0].template if found else None
        sim.count(method, template or "<unknown>")
        rule = sim.state.faults.match_http(method, path, template)
        if rule is not None and self._apply_fault(rule):
            return
        # ``drop-after``: the request runs, then the answer is lost on the way back.
        lose_answer = rule is not None and rule.action == "drop-after"
        try:
            if found is None:
                raise NotImplementedPathError(method, path)
            route, path_params = found
            actor = "" if route.public else self._authenticate(method)
            if route.template.startswith("/_sim/") and actor != ADMIN_TOKEN:
                # The control API is the simulator's, not PVE's: only its admin credential.
                raise SimApiError(
                    "Permission check failed (/_sim, simulator admin token only)", status=403
                )
            given = self._params(url.query, raw_body)
            given.update({k: unquote(v) for k, v in path_params.items()})
            params = schema.validate(route.params, given, not_implemented=route.not_implemented)
            state = sim.state
            req = ApiRequest(sim, state, actor, method, path, route.template, params)
            result = route.handler(req)
            if lose_answer:
                self.close_connection = True
                return
        except AuthFailedError as exc:
            if sim.state.settings.auth_fail_delay:
                time.sleep(sim.state.settings.auth_fail_delay)
            self._error(exc)
            return
        except SimApiError as exc:
            self._error(exc)
            return
        except Exception as exc:  # a simulator bug: say so, like PVE's 500 with the die text
            log.error("handler failed: %s", traceback.format_exc())
            self._error(SimApiError(f"simulator internal error: {exc!r}"))
            return
        self._send(200, {"data": result})

    def _apply_fault(self, rule: HttpFault) -> bool:
        """Apply an HTTP fault; True when the request is answered (or dropped) by it."""
        if rule.delay:
            time.sleep(rule.delay)
        if rule.action == "drop":
            self.close_connection = True
            return True
        if rule.action == "error":
            self._error(SimApiError(rule.message, status=rule.status))
            return True
        return False

    def _authenticate(self, method: str) -> str:
        auth = self.server.sim.state.auth
        header = self.headers.get("Authorization")
        if header:
            return auth.check_token(header)
        ticket = None
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "PVEAuthCookie":
                ticket = unquote(value)
        if ticket is None:
            raise SimApiError("No ticket", status=401)
        user = auth.verify_ticket(ticket)
        if method != "GET" and not auth.verify_csrf(
            user, self.headers.get("CSRFPreventionToken") or ""
        ):
            raise SimApiError("Permission denied - invalid csrf token", status=401)
        return user

    def _params(self, query: str, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            ctype = self.headers.get("Content-Type") or ""
            if "json" in ctype:
                data = json.loads(body)
                params.update({k: v for k, v in data.items() if v is not None})
            else:
                params.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        return params


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the simulator only binds loopback addresses, not {host}")


class SimServer:
    """A simulated PVE node served over HTTPS on loopback, in a background thread.

    ``time_scale`` 0 makes tasks instant; ``manual_clock=True`` uses a ``ManualClock``
    (advance it with ``advance``). ``lock_wait`` is the config-flock wait (PVE: 10 s).
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 0.0,
        manual_clock: bool = False,
        clock: Clock | None = None,
        settings: SimSettings | None = None,
        lock_wait: float | None = None,
        extensions: Extensions | None = None,
    ) -> None:
        _check_loopback(host)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.settings = settings or SimSettings()
        if lock_wait is not None:
            self.settings.lock_wait = lock_wait
        self.clock: Clock = clock or (ManualClock() if manual_clock else ScaledClock(time_scale))
        self.extensions = extensions or Extensions()
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.state: SimState = self._new_state()
        self.endpoint: dict[str, Any] = {}

    def _new_state(self) -> SimState:
        return SimState(
            self.state_dir,
            clock=self.clock,
            settings=self.settings,
            hooks=self.extensions.hooks,
            faults=Faults(),
        )

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> SimServer:
        """Bind, serve in a thread, start extra services, write ``endpoint.json``."""
        cert, key, fp = ensure_cert(self.state_dir / "tls", self.settings.node)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._httpd = _HttpServer((self.host, self.port), self, ctx)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="sim-http", daemon=True
        )
        self._thread.start()
        auth = self.state.auth
        self.endpoint = {
            "api_url": f"https://{self.host}:{self.port}",
            "tls_fingerprint_sha256": fp,
            "node": self.state.node,
            "tokens": {
                "agent": {"id": AGENT_TOKEN, "secret": auth.token_secrets[AGENT_TOKEN]},
                "weak": {"id": WEAK_TOKEN, "secret": auth.token_secrets[WEAK_TOKEN]},
                # Only this one may use the control API (/_sim/*).
                "admin": {"id": ADMIN_TOKEN, "secret": auth.token_secrets[ADMIN_TOKEN]},
            },
            "root_user": ROOT,
            "root_password": auth.root_password,
            "state_dir": str(self.state_dir.resolve()),
        }
        for service in self.extensions.services:
            self.endpoint.update(service.start(self))
        atomic_write_json(self.state_dir / "endpoint.json", self.endpoint, mode=0o600)
        return self

    def stop(self) -> None:
        """Stop services, the HTTP listener and the scheduler (running tasks are abandoned)."""
        for service in reversed(self.extensions.services):
            service.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.state.close()

    def restart(self) -> None:
        """Stop and start again from the state directory, on the same port if possible."""
        self.stop()
        self.state = self._new_state()
        self.start()

    def reload_state(self) -> None:
        """Reload the state from disk under the running listener (control API ``restart``)."""
        old = self.state
        old.close()
        self.state = self._new_state()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters and audit -------------------------------------------------------------

    def count(self, method: str, template: str) -> None:
        """Count one request by method and path template."""
        with self._count_lock:
            self._counts[f"{method} {template}"] += 1

    def request_counts(self) -> dict[str, int]:
        """Requests served so far, by ``"<METHOD> <template>"``."""
        with self._count_lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        """Zero the request counters."""
        with self._count_lock:
            self._counts.clear()

    def audit(self) -> dict[str, Any]:
        """CTs (vmid, status, hostname, tags, description, MACs, lock), L2 collisions, counters."""
        state = self.state
        with state.mutex:
            cts = [
                {
                    "vmid": ct.vmid,
                    "status": ct.status,
                    "hostname": ct.conf.get("hostname"),
                    "tags": ct.conf.get("tags"),
                    "description": ct.conf.get("description"),
                    "macs": _macs(ct.nets()),
                    "lock": ct.lock,
                    "template": ct.is_template,
                    "onboot": ct.conf.get("onboot") == "1",
                    "protection": ct.conf.get("protection") == "1",
                    "pool": state.pools.pool_of(ct.vmid),
                    "pending": sorted(ct.pending),
                }
                for ct in sorted(state.cts.values(), key=lambda c: c.vmid)
            ]
        counts = self.request_counts()
        return {
            "node": state.node,
            "cts": cts,
            "l2_collisions": list(state.dhcp.collisions),
            "ip_collisions": list(state.dhcp.ip_collisions),
            "leases": dict(state.dhcp.leases),
            "requests": counts,
            "requests_total": sum(counts.values()),
            "tasks": {"running": len(state.tasks.running()), "total": len(state.tasks.all())},
            "locks": {str(k): v for k, v in state.locks.held().items()},
        }

    # -- faults and time (mirroring the control API) --------------------------------------

    def add_http_fault(self, method: str, path: str, **kw: Any) -> HttpFault:
        """Answer/drop/delay matching requests; see ``faults.HttpFault`` for fields."""
        return self.state.faults.add_http(method, path, **kw)

    def add_task_fault(
        self, type: str, exitstatus: str, *, vmid: int | None = None, times: int | None = 1
    ) -> TaskFault:
        """Make the next ``times`` tasks of ``type`` (for ``vmid``) end with ``exitstatus``."""
        return self.state.faults.add_task(type, exitstatus, vmid, times)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.state.faults.clear()

    def hold_lock(self, vmid: int, seconds: float) -> None:
        """Hold ``vmid``'s config flock for ``seconds`` of clock time."""
        self.state.hold_lock(vmid, seconds)

    def advance(self, seconds: float) -> int:
        """Advance a manual clock and run what became due."""
        return self.state.advance(seconds)

    def node_reboot(self) -> str:
        """Reboot the simulated node (``POST /_sim/node/reboot``); the ``startall`` UPID."""
        return node_boot.reboot(self.state)

    def break_docker(self, volid: str) -> None:
        """Make a backup archive the "Docker is broken" variant
        (``POST /_sim/archives/docker-broken``; needs the guest model)."""
        from felhom_provider.sim.guest import variants  # noqa: PLC0415 (optional extension)

        backup.rewrite_archive_guest(self.state, volid, variants.break_docker)


def _macs(nets: dict[str, str]) -> list[str]:
    out = []
    for value in nets.values():
        for part in value.split(","):
            if part.startswith("hwaddr="):
                out.append(part[len("hwaddr=") :].upper())
    return out
