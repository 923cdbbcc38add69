"""Benchmark the PVE simulator: requests per second and memory with many CTs.

Starts ``python -m felhom_provider.sim serve`` in a subprocess (instant tasks, loopback),
builds a golden CT and archive as root@pam, restores ``--cts`` customer CTs with the agent
token (the provider's one-call restore), then runs a read mix (config, status, task status,
CT list) from several client threads for ``--seconds``. Prints the figures; the last line
is one JSON object with them. Nothing is asserted: figures, not timed tests.

    .venv/bin/python bench/sim_bench.py [--cts 1000] [--seconds 5] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import urllib3

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Api:
    """A tiny keep-alive client for the simulator (one ``requests.Session`` per thread)."""

    def __init__(self, endpoint: dict[str, Any], who: str) -> None:
        self.base = endpoint["api_url"] + "/api2/json"
        self.session = requests.Session()
        if who == "root":
            login = self.session.post(
                self.base + "/access/ticket",
                data={"username": "root@pam", "password": endpoint["root_password"]},
                verify=False,
            ).json()["data"]
            self.session.cookies.set("PVEAuthCookie", login["ticket"])
            self.session.headers["CSRFPreventionToken"] = login["CSRFPreventionToken"]
        else:
            tok = endpoint["tokens"][who]
            self.session.headers["Authorization"] = f"PVEAPIToken={tok['id']}={tok['secret']}"

    def call(self, method: str, path: str, **params: Any) -> Any:
        """One request; raises on an HTTP error."""
        query = params if method in ("GET", "DELETE") else None
        body = None if method in ("GET", "DELETE") else params
        # verify=False per request: the environment's CA bundle would override a session
        # setting; the target is the self-signed simulator on loopback only.
        resp = self.session.request(
            method, self.base + path, timeout=60, verify=False, params=query, data=body
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.reason}")
        return resp.json()["data"]


def start_sim(state_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the simulator and wait for its endpoint.json."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "felhom_provider.sim", "serve", "--state-dir", str(state_dir),
         "--no-extensions"],
        cwd=REPO,
    )  # fmt: skip
    endpoint_file = state_dir / "endpoint.json"
    deadline = time.monotonic() + 60
    while not endpoint_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("simulator did not start")
        time.sleep(0.05)
    return proc, json.loads(endpoint_file.read_text())


def populate(endpoint: dict[str, Any], node: str, count: int, threads: int) -> tuple[float, str]:
    """Golden CT + archive as root, then ``count`` restores with the agent token."""
    root = Api(endpoint, "root")
    root.call("POST", f"/nodes/{node}/lxc", vmid=9000, ostemplate=TEMPLATE, rootfs="local-lvm:8",
              hostname="golden", features="nesting=1,keyctl=1",
              net0="name=eth0,bridge=vmbr0,ip=dhcp")  # fmt: skip
    root.call("POST", f"/nodes/{node}/vzdump", vmid="9000", mode="stop", compress="zstd")
    archive = root.call("GET", f"/nodes/{node}/storage/local/content", content="backup")[0]["volid"]
    vmids = list(range(10000, 10000 + count))
    started = time.perf_counter()

    def worker(chunk: list[int]) -> None:
        api = Api(endpoint, "agent")
        for vmid in chunk:
            api.call("POST", f"/nodes/{node}/lxc", vmid=vmid, ostemplate=archive, restore=1,
                     hostname=f"c{vmid}", rootfs="local-lvm:10", mp0="local-lvm:1,mp=/mnt/data",
                     net0="name=eth0,bridge=vmbr0,ip=dhcp",
                     description=f"felhom-owner=bench/{vmid}")  # fmt: skip

    pool = [threading.Thread(target=worker, args=(vmids[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return count / (time.perf_counter() - started), archive


def read_mix(
    endpoint: dict[str, Any], node: str, count: int, seconds: float, threads: int
) -> float:
    """Requests/second of a read mix over ``seconds`` with ``threads`` clients."""
    done = [0] * threads
    stop_at = time.perf_counter() + seconds

    def worker(idx: int) -> None:
        api = Api(endpoint, "agent")
        upid = api.call("POST", f"/nodes/{node}/lxc/{10000 + idx}/status/start")
        n = 0
        while time.perf_counter() < stop_at:
            vmid = 10000 + (n * 7919 + idx) % count
            if n % 50 == 49:
                api.call("GET", f"/nodes/{node}/lxc")
            elif n % 3 == 0:
                api.call("GET", f"/nodes/{node}/lxc/{vmid}/config")
            elif n % 3 == 1:
                api.call("GET", f"/nodes/{node}/lxc/{vmid}/status/current")
            else:
                api.call("GET", f"/nodes/{node}/tasks/{upid}/status")
            n += 1
        done[idx] = n

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def main() -> int:
    """Run the benchmark and print figures (last line: JSON)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        proc, endpoint = start_sim(Path(tmp) / "state")
        try:
            node = endpoint["node"]
            rss_empty = rss_mib(proc.pid)
            restores_per_s, _ = populate(endpoint, node, args.cts, args.threads)
            rss_full = rss_mib(proc.pid)
            reads_per_s = read_mix(endpoint, node, args.cts, args.seconds, args.threads)
            rss_after = rss_mib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    figures = {
        "cts": args.cts,
        "client_threads": args.threads,
        "restores_per_s": round(restores_per_s, 1),
        "read_requests_per_s": round(reads_per_s, 1),
        "rss_mib_empty": round(rss_empty, 1),
        "rss_mib_with_cts": round(rss_full, 1),
        "rss_mib_after_reads": round(rss_after, 1),
    }
    print(f"restores (one-call restore incl. 2 volumes): {restores_per_s:.1f}/s")
    print(f"read mix with {args.cts} CTs, {args.threads} client threads: {reads_per_s:.1f} req/s")
    print(f"simulator RSS: empty {rss_empty:.1f} MiB, {args.cts} CTs {rss_full:.1f} MiB, "
          f"after reads {rss_after:.1f} MiB")  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
