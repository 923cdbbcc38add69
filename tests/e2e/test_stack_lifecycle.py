"""A customer stack's life with the real Pulumi CLI against the PVE simulator.

The tests share one stack (module scope) and run in file order: preview, up, a no-op up,
bad input, an in-place update, drift on refresh, the secret check, the pickle check, a
golden roll-out, then destroy. The simulator runs as its own process with instant tasks; its
``/_sim/audit`` request counters tell which calls reached PVE.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from felhom_provider.pve import PveClient, PveEndpoint
from tests.e2e.pulumi_cli import REPO, PulumiCommandError, PulumiProject, copy_project

STACK = "e2e"
MUTATING = ("POST ", "PUT ", "DELETE ")


class Sim:
    """The simulator as a separate process (``python -m felhom_provider.sim serve``)."""

    def __init__(
        self, state_dir: Path, time_scale: float = 0.0, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.state_dir = state_dir
        self.log = state_dir.parent / "sim.log"
        state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "felhom_provider.sim",
                    "serve",
                    "--state-dir",
                    str(state_dir),
                    "--api-port",
                    "0",
                    "--time-scale",
                    str(time_scale),
                    *extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        endpoint = state_dir / "endpoint.json"
        for _ in range(600):
            if endpoint.is_file() and endpoint.stat().st_size:
                break
            assert self.proc.poll() is None, self.log.read_text()
            subprocess.run(["sleep", "0.1"], check=True)
        self.endpoint: dict[str, Any] = json.loads(endpoint.read_text())
        self.client = PveClient(PveEndpoint.from_endpoint_json(self.endpoint))
        # The control API (/_sim/*) answers only the simulator's admin token.
        self.admin = PveClient(PveEndpoint.from_endpoint_json(self.endpoint, token="admin"))

    @property
    def secret(self) -> str:
        return str(self.endpoint["tokens"]["agent"]["secret"])

    def audit(self) -> dict[str, Any]:
        return dict(self.admin._call("GET", "/_sim/audit"))

    def mutations(self) -> int:
        counts = self.audit()["requests"]
        return sum(n for k, n in counts.items() if k.startswith(MUTATING) and "/_sim/" not in k)

    def cts(self) -> list[dict[str, Any]]:
        return self.client.list_lxc()

    def archives(self) -> list[str]:
        return [
            v["volid"] for v in self.client.storage_content("local") if v["content"] == "backup"
        ]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_project(
    factory: Callable[[Path], PulumiProject], src: Path, sim: Sim, config: dict[str, Any]
) -> PulumiProject:
    """A copy of the real project (Pulumi.yaml, __main__.py) with a stack for ``sim``."""
    (src / "stacks").mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        (src / name).write_text((REPO / name).read_text())
    (src / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    project = factory(src)
    project.stack_init(STACK)
    ep, shell = sim.endpoint, sim.endpoint["node_shell"]
    plain = {
        "felhom:pve.endpoint": ep["api_url"],
        "felhom:pve.node": ep["node"],
        "felhom:pve.tokenId": ep["tokens"]["agent"]["id"],
        "felhom:pve.tlsFingerprint": ep["tls_fingerprint_sha256"],
        "felhom:nodeShell.host": shell["host"],
        "felhom:nodeShell.port": shell["port"],
        "felhom:nodeShell.user": shell["user"],
        "felhom:nodeShell.hostKey": shell["host_public_key"],
        "felhom:nodeShell.privateKeyPath": shell["client_private_key_path"],
        "felhom:guestSshPort": ep.get("guest_ssh_port", 22),
    }
    args = [a for k, v in plain.items() for a in ("--plaintext", f"{k}={v}")]
    project.run("config", "set-all", "--path", *args)
    # From stdin: the secret is never on a command line or in any command's output.
    project.run("config", "set", "--secret", "felhom:pveTokenSecret", input_text=sim.secret)
    return project


def dev_config(**overrides: Any) -> dict[str, Any]:
    """The demo fleet (stacks/Pulumi.dev.yaml) with overrides."""
    config = dict(yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())["config"])
    config.update(overrides)
    return config


class Run:
    """The shared stack and every command output seen (for the secret check)."""

    def __init__(self, sim: Sim, project: PulumiProject) -> None:
        self.sim, self.project = sim, project
        self.outputs: list[str] = []

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.project.run(*args, check=False)
        self.outputs += [result.stdout, result.stderr]
        if check and result.returncode != 0:
            raise PulumiCommandError(list(args), result)
        return result

    def set_guests(self, guests: list[dict[str, Any]]) -> None:
        # JSON text: the program decodes structured values from their text form.
        self.project.run("config", "set", "felhom:guests", "--", json.dumps(guests))

    def guests(self) -> dict[str, Any]:
        outputs: dict[str, Any] = self.project.outputs()["guests"]
        return outputs


@pytest.fixture(scope="module")
def run(pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("stack")
    sim = Sim(base / "sim")

    def factory(source: Path) -> PulumiProject:
        workdir = copy_project(source, base / "project")
        (base / "pulumi-state" / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=base / "pulumi-state", bin_dir=pulumi_cli)

    try:
        yield Run(sim, make_project(factory, base / "src", sim, dev_config()))
    finally:
        sim.stop()


def test_preview_lists_creates_and_sends_no_mutation(run: Run) -> None:
    before = run.sim.mutations()
    preview = run.pulumi("preview")
    assert "+ 6 to create" in preview.stdout
    for name in ("golden", "acme-web", "acme-api", "acme-db"):
        assert name in preview.stdout
    assert run.sim.mutations() == before
    assert run.sim.cts() == [] and run.sim.archives() == []


def test_up_creates_golden_image_and_three_distinct_guests(run: Run) -> None:
    up = run.pulumi("up", "--yes")
    assert "6 created" in up.stdout
    # The step log shows against each resource, not only under the stack.
    assert "felhom:Guest acme-web creating" in up.stdout and "restoring CT" in up.stdout
    outputs = run.project.outputs()
    golden, guests = outputs["goldenImage"], outputs["guests"]
    assert golden["archive"] in run.sim.archives()
    macs = {g["mac"] for g in guests.values()}
    ips = {g["ipv4"] for g in guests.values()}
    keys = {g["hostKeys"]["ssh-ed25519"] for g in guests.values()}
    assert len(guests) == 3 and len(macs) == 3 and len(ips) == 3 and len(keys) == 3
    assert golden["goldenMac"] not in macs
    assert all(isinstance(g["vmid"], int) and g["state"] == "running" for g in guests.values())
    assert len(run.sim.cts()) == 3, "the build CT is gone"


def test_second_up_changes_nothing(run: Run) -> None:
    before = run.sim.mutations()
    second = run.pulumi("up", "--yes")
    assert "6 unchanged" in second.stdout
    assert run.sim.mutations() == before


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"hostname": "Bad_Name"}, "felhom:guests[0].hostname"),
        ({"rootfsGiB": 4}, "rootfsGiB"),
        ({"memory": -1}, "felhom:guests[0].memory"),
        (
            {"mounts": [{"storage": "local-lvm", "sizeGiB": 1, "path": "mnt/data"}]},
            "felhom:guests[0].mounts[0].path",
        ),
    ],
)
def test_bad_input_fails_at_preview_naming_the_field(
    run: Run, change: dict[str, Any], key: str
) -> None:
    guests = dev_config()["felhom:guests"]
    bad = [{**guests[0], **change}, *guests[1:]]
    run.set_guests(bad)
    try:
        before = run.sim.mutations()
        preview = run.pulumi("preview", check=False)
        assert preview.returncode != 0
        assert key in preview.stdout + preview.stderr
        assert run.sim.mutations() == before
    finally:
        run.set_guests(guests)


def test_changing_cores_updates_in_place(run: Run) -> None:
    before = run.guests()["acme-api"]
    guests = dev_config()["felhom:guests"]
    run.set_guests([g if g["name"] != "acme-api" else {**g, "cores": 3} for g in guests])
    up = run.pulumi("up", "--yes")
    assert "1 updated" in up.stdout and "replaced" not in up.stdout
    after = run.guests()["acme-api"]
    assert after["cores"] == 3
    assert (after["vmid"], after["mac"]) == (before["vmid"], before["mac"])
    assert run.sim.client.get_config(after["vmid"])["cores"] in (3, "3")


def test_refresh_detects_a_hostname_changed_behind_pulumis_back(run: Run) -> None:
    web = run.guests()["acme-web"]
    run.sim.client.put_config(web["vmid"], hostname="changed-by-hand")
    refresh = run.pulumi("refresh", "--yes", "--diff")
    assert "1 updated" in refresh.stdout
    assert "changed-by-hand" in refresh.stdout
    state = json.loads(run.pulumi("stack", "export").stdout)["deployment"]["resources"]
    web_state = next(r for r in state if r["urn"].endswith("::acme-web"))
    assert web_state["outputs"]["hostname"] == "changed-by-hand"
    preview = run.pulumi("preview", "--diff")
    assert "hostname" in preview.stdout and "1 to update" in preview.stdout
    run.pulumi("up", "--yes")
    assert run.sim.client.get_config(web["vmid"])["hostname"] == "acme-web"


def test_the_token_secret_is_never_in_state_or_output(run: Run) -> None:
    exported = run.pulumi("stack", "export").stdout
    assert run.sim.secret not in exported
    state_files = list((run.project.state_dir / "backend").rglob("*.json"))
    assert state_files
    for path in state_files:
        assert run.sim.secret not in path.read_text()
    for text in run.outputs:
        assert run.sim.secret not in text
    assert run.sim.secret not in run.sim.log.read_text()


def test_the_stored_provider_unpickles_offline_in_a_fresh_process(run: Run) -> None:
    state = json.loads(run.pulumi("stack", "export", "--show-secrets").stdout)
    guests = [r for r in state["deployment"]["resources"] if r["type"].endswith("felhom:Guest")]
    blob = guests[0]["outputs"]["__provider"]
    blob = blob.get("plaintext", blob) if isinstance(blob, dict) else blob
    blob = json.loads(blob) if blob.startswith('"') else blob
    child = textwrap.dedent(
        """
        import base64, socket, sys
        def refuse(*a, **k):
            raise RuntimeError("network access while unpickling")
        socket.socket.connect = refuse
        import dill
        p = dill.loads(base64.b64decode(sys.stdin.read()))
        print(type(p).__qualname__, sorted(vars(p)))
        """
    )
    assert run.sim.secret.encode() not in base64.b64decode(blob)
    out = subprocess.run(
        [sys.executable, "-c", child], input=blob, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "FelhomGuestProvider []"


def test_changing_the_archive_rolls_guests_in_place(run: Run) -> None:
    before = run.guests()
    old_archive = run.project.outputs()["goldenImage"]["archive"]
    run.project.run("config", "set", "--path", "felhom:golden.build.revision", "2")
    up = run.pulumi("up", "--yes")
    assert "3 updated" in up.stdout and "+-1 replaced" in up.stdout  # the golden image only
    after = run.guests()
    new_archive = run.project.outputs()["goldenImage"]["archive"]
    assert new_archive != old_archive
    assert run.sim.archives() == [new_archive], "the old archive is deleted after the roll"
    for name, guest in after.items():
        assert guest["archive"] == new_archive and guest["rootfsRebuiltAt"]
        assert (guest["vmid"], guest["mac"]) == (before[name]["vmid"], before[name]["mac"])
    assert len(run.sim.cts()) == 3


def test_destroy_leaves_no_ct_and_no_archive(run: Run) -> None:
    run.pulumi("destroy", "--yes")
    assert run.sim.cts() == []
    assert run.sim.archives() == []
