"""Bring-up benchmark: this engine versus the seed's six-call sequence, on the simulator.

Starts the simulator in a subprocess (its own interpreter, so its CPU and memory are not
counted here) at a realistic time scale, builds a golden archive once, then brings fleets
of N = 1, 10 and 50 guests up concurrently in two modes:

* ``engine``: ``GuestEngine.create`` (one restore with every override, then start);
* ``baseline``: the seed's sequence (restore, PUT net0, PUT hostname, resize, PUT mp0,
  start), followed by the same lease and host-key wait so only the API sequence differs.

For each run it prints mutating PVE calls per guest, all API requests per guest (polls
included), fleet wall time divided by the lower bound the simulator allows, and peak
memory of this process. The lower bound is the shortest task chain a guest needs
(``vzrestore`` + ``vzstart`` at the simulator's durations and time scale); the simulator
runs any number of tasks at once, so it does not grow with N. A readable table comes first,
then, as the last line, one JSON object with every figure.

Usage: ``python bench/bringup.py [--time-scale 1.0] [--sizes 1,10,50]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell
from felhom_provider.pve import PveClient, PveEndpoint
from felhom_provider.reconcile import GoldenEngine, GoldenSpec, GuestEngine, GuestSpec
from felhom_provider.reconcile.apply import lease_of
from felhom_provider.reconcile.hostkeys import default_probe
from felhom_provider.reconcile.model import MountSpec
from felhom_provider.sim.clock import DEFAULT_DURATIONS

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
MODES = ("engine", "baseline")


def start_simulator(
    state_dir: Path, time_scale: float
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Run ``python -m felhom_provider.sim serve`` and wait for its endpoint.json."""
    cmd = [
        sys.executable,
        "-m",
        "felhom_provider.sim",
        "serve",
        "--state-dir",
        str(state_dir),
        "--time-scale",
        str(time_scale),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint_file = state_dir / "endpoint.json"
    deadline = time.monotonic() + 60
    while not endpoint_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.05)
    return proc, json.loads(endpoint_file.read_text())


def node_shell(endpoint: dict[str, Any]) -> ParamikoNodeShell:
    """The simulator's root node shell, host key pinned."""
    ns = endpoint["node_shell"]
    return ParamikoNodeShell(
        NodeShellSettings(
            host=ns["host"],
            port=ns["port"],
            user=ns["user"],
            host_key=ns["host_public_key"],
            key_file=ns["client_private_key_path"],
        )
    )


def guest_spec(endpoint: dict[str, Any], archive: str, name: str, vmid: int | None) -> GuestSpec:
    """The same guest for both modes: 10 GiB rootfs, one 1 GiB data mount."""
    return GuestSpec(
        name=name,
        owner=f"bench/{name}",
        node=endpoint["node"],
        archive=archive,
        hostname=name,
        cores=2,
        memory=1024,
        swap=512,
        rootfs_storage="local-lvm",
        rootfs_gib=10,
        mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
        vmid=vmid,
    )


def wait_online(client: PveClient, vmid: int, port: int) -> None:
    """Lease, then host keys: the same finish line the engine's create has."""
    mac = str(client.get_config(vmid)["net0"]).upper().partition("HWADDR=")[2][:17]
    deadline = time.monotonic() + 120
    ip = None
    while ip is None:
        ip = lease_of(client.interfaces(vmid), mac)
        if ip is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"CT {vmid}: no lease")
            time.sleep(1.0)
    probe = default_probe()  # the same handshakes the engine does
    while not probe(ip, port, 5.0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"CT {vmid}: no host keys")
        time.sleep(1.0)


def baseline_create(client: PveClient, spec: GuestSpec, port: int) -> int:
    """The seed's six calls: restore, PUT net0, PUT hostname, resize, PUT mp0, start."""
    assert spec.vmid is not None
    vmid, timeout = spec.vmid, 600.0
    client.wait_task(
        client.restore_lxc(vmid, spec.archive, {"storage": spec.rootfs_storage}), timeout
    )
    client.put_config(vmid, net0=f"name=eth0,bridge={spec.bridge},ip=dhcp")
    client.put_config(vmid, hostname=spec.hostname)
    client.wait_task(client.resize(vmid, "rootfs", f"{spec.rootfs_gib}G"), timeout)
    mount = spec.mounts[0]
    client.put_config(vmid, mp0=f"{mount.storage}:{mount.size_gib},mp={mount.path}")
    client.wait_task(client.start(vmid), timeout)
    wait_online(client, vmid, port)
    return vmid


def baseline_delete(client: PveClient, vmid: int) -> None:
    """Stop and destroy a baseline guest (not timed)."""
    client.wait_task(client.stop(vmid), 600)
    client.wait_task(client.destroy(vmid), 600)


class PeakRss:
    """Peak resident memory of this process over a run (Linux ``VmHWM``, reset per run)."""

    def reset(self) -> None:
        """Reset the high-water mark (``clear_refs`` 5), where the kernel allows it."""
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        """``VmHWM`` in MiB, else ``ru_maxrss``."""
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource  # noqa: PLC0415

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Bench:
    """What every fleet run shares: the simulator's endpoint, the archive, the time scale."""

    endpoint: dict[str, Any]
    archive: str
    time_scale: float
    lower_bound_s: float


def run_fleet(bench: Bench, mode: str, n: int, base_vmid: int) -> dict[str, Any]:
    """Bring ``n`` guests up at once in ``mode``; tear them down; return the figures."""
    endpoint, archive = bench.endpoint, bench.archive
    time_scale, lower_bound_s = bench.time_scale, bench.lower_bound_s
    client = PveClient(PveEndpoint.from_endpoint_json(endpoint))
    port = int(endpoint["guest_ssh_port"])
    specs = [
        guest_spec(
            endpoint, archive, f"{mode[:4]}-{n}-{i}", base_vmid + i if mode == "baseline" else None
        )
        for i in range(n)
    ]
    engine = GuestEngine(client, None, guest_ssh_port=port, restores_per_node=n)
    create: Callable[[GuestSpec], int] = (
        (lambda s: engine.create(s).vmid)
        if mode == "engine"
        else (lambda s: baseline_create(client, s, port))
    )
    rss = PeakRss()
    rss.reset()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=n) as pool:
        vmids = list(pool.map(create, specs))
    wall = time.monotonic() - started
    peak = rss.peak_mib()
    stats = client.stats.snapshot()
    with ThreadPoolExecutor(max_workers=n) as pool:
        if mode == "engine":
            list(
                pool.map(lambda p: engine.delete(p[0], p[1].owner), zip(vmids, specs, strict=True))
            )
        else:
            list(pool.map(lambda v: baseline_delete(client, v), vmids))
    return {
        "mode": mode,
        "n": n,
        "mutating_per_guest": round(int(stats["mutating"]) / n, 2),  # type: ignore[call-overload]
        "requests_per_guest": round(int(stats["total"]) / n, 2),  # type: ignore[call-overload]
        "wall_s": round(wall, 2),
        "lower_bound_s": round(lower_bound_s, 2),
        "wall_over_bound": round(wall / lower_bound_s, 3),
        "peak_rss_mib": round(peak, 1),
        "time_scale": time_scale,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--sizes", default="1,10,50")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    lower_bound = (DEFAULT_DURATIONS["vzrestore"] + DEFAULT_DURATIONS["vzstart"]) * args.time_scale
    with tempfile.TemporaryDirectory(prefix="felhom-bench-") as tmp:
        proc, endpoint = start_simulator(Path(tmp) / "sim", args.time_scale)
        try:
            client = PveClient(PveEndpoint.from_endpoint_json(endpoint))
            golden = GoldenEngine(client, node_shell(endpoint)).build(
                GoldenSpec(
                    name="golden", owner="bench/golden", node=endpoint["node"], template=TEMPLATE
                )
            )
            bench = Bench(endpoint, golden.archive, args.time_scale, lower_bound)
            results = []
            for n in sizes:
                for i, mode in enumerate(MODES):
                    results.append(run_fleet(bench, mode, n, base_vmid=1000 + 100 * i))
                    print(f"  done: {mode} N={n}", file=sys.stderr, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    header = (
        f"{'mode':<9} {'N':>3} {'mutating/guest':>15} {'requests/guest':>15} "
        f"{'wall s':>8} {'bound s':>8} {'wall/bound':>11} {'peak RSS MiB':>13}"
    )
    print(f"Bring-up benchmark (simulator time scale {args.time_scale}, pid {os.getpid()})")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['mode']:<9} {r['n']:>3} {r['mutating_per_guest']:>15} "
            f"{r['requests_per_guest']:>15} {r['wall_s']:>8} {r['lower_bound_s']:>8} "
            f"{r['wall_over_bound']:>11} {r['peak_rss_mib']:>13}"
        )
    summary = {
        "time_scale": args.time_scale,
        "lower_bound_s": round(lower_bound, 2),
        "results": {
            m: {
                str(r["n"]): {k: v for k, v in r.items() if k not in ("mode", "n")}
                for r in results
                if r["mode"] == m
            }
            for m in MODES
        },
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
