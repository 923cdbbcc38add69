"""The shared half of the guest engine: construction, bringing a guest online, finishing.

``GuestCore`` holds what create, import and update all need: start and wait for the address
(a static one has no lease to wait for), read and verify the host keys, then write the SSH
keys and set PVE's protection flag, and observe the resulting state.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from felhom_provider.errors import HostKeyError, VerificationError
from felhom_provider.pve.props import as_bool
from felhom_provider.reconcile.access import sync_keys
from felhom_provider.reconcile.apply import Applier, lease_of
from felhom_provider.reconcile.engine_base import GuestEngineBase
from felhom_provider.reconcile.hostkeys import VerifiedKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import GuestSpec, GuestState
from felhom_provider.reconcile.netconf import network_of
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.provision import Run
from felhom_provider.reconcile.undo import StopCT


class GuestCore(GuestEngineBase):
    """Brings customer guests up from the golden archive with the API token only.

    ``shell`` is the optional node shell: SSH keys into the guests, host keys read inside
    them, and the host-key fallback (design §2.4). ``progress`` receives one line per step;
    the resources show them in ``pulumi up``. ``clock``/``sleep`` drive every deadline, so
    tests never wait on the wall clock.
    """

    def _run(self, spec: GuestSpec, verb: str) -> Run:
        journal = Journal(f"{verb} guest {spec.name} ({spec.owner})")
        return Run(spec=spec, journal=journal, say=self._say_for(spec.name))

    def _running(self, vmid: int) -> bool:
        """Whether PVE reports the CT running (``status/current`` always carries ``status``:
        pve-container ``vmstatus``)."""
        return bool(self.client.status(vmid)["status"] == "running")

    def _address(self, vmid: int, config: dict[str, Any]) -> str | None:
        """The guest's IPv4: its static address, else the lease PVE reports for its MAC."""
        ip = str(network_of(config).get("ip", "dhcp"))
        if ip not in ("dhcp", "manual"):
            return ip.split("/", 1)[0]
        return lease_of(self.client.interfaces(vmid), mac_of(config))

    def _bring_online(
        self, run: Run, applier: Applier, vmid: int, *, mac: str, old_keys: dict[str, str] | None
    ) -> tuple[str, VerifiedKeys]:
        """Start (if stopped), wait for the lease (a static guest has none to wait for),
        read and verify the host keys; returns (address, keys)."""
        spec, say = run.spec, run.say
        run.step = "start"
        if not self._running(vmid):
            entry = run.journal.begin(
                "start", {"vmid": vmid}, undo=StopCT(vmid=vmid, node=spec.node)
            )
            say(f"starting CT {vmid}")
            result = applier.run("vzstart", vmid, "start", partial(self.client.start, vmid))
            run.journal.done(entry, result.exitstatus)
        run.step = "lease"
        ip = spec.static_ipv4
        if ip is not None:
            say(f"static address {ip}: no lease to wait for")
        else:
            say(f"waiting up to {self.lease_timeout_s:.0f}s for a DHCP lease on {mac}")
            ip = self._lease(vmid, mac)
            if not ip:
                raise VerificationError(
                    f"CT {vmid} got no DHCP lease for {mac} within {self.lease_timeout_s:.0f}s",
                    guest=spec.name,
                    vmid=vmid,
                    step=run.step,
                )
            run.journal.record("lease", {"vmid": vmid, "mac": mac}, result=ip)
            say(f"lease {ip}")
        run.step = "host-keys"
        keys = self.keys.ensure(
            vmid, ip, run.journal, say, guest=spec.name, mode=spec.host_key_check
        )
        if old_keys and keys.public != old_keys:
            raise HostKeyError(
                f"CT {vmid} now has different SSH host keys than recorded",
                guest=spec.name,
                vmid=vmid,
                step=run.step,
            )
        say("host keys " + ", ".join(f"{k} {v}" for k, v in sorted(keys.fingerprints.items())))
        return ip, keys

    def _finish(
        self,
        run: Run,
        vmid: int,
        ip: str | None,
        keys: VerifiedKeys,
        pending: tuple[str, ...] = (),
        *,
        fresh: bool = False,
    ) -> GuestState:
        """Authorized keys, then PVE's protection flag, then the observed state.

        Protection comes last so that a failed create can still be rolled back (PVE refuses
        to destroy a protected CT: ``LXC.pm`` ``check_protection``).
        """
        spec = run.spec
        run.step = "authorized-keys"
        if spec.authorized_keys or not fresh:  # a fresh guest has no keys to take away
            sync_keys(self.shell, vmid, spec.authorized_keys, run.journal, run.say, guest=spec.name)
        config = self.client.get_config(vmid)
        if spec.protection and not as_bool(config.get("protection")):
            run.step = "protection"
            run.say("setting PVE protection=1 (no destroy or disk removal until cleared)")
            self.client.put_config(vmid, protection=1, digest=config.get("digest"))
            config = self.client.get_config(vmid)
        return state_from(
            vmid,
            spec.node,
            config,
            status=str(self.client.status(vmid)["status"]),
            ipv4=ip,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=spec.owner,
            ssh_port=self.guest_ssh_port,
            pending=pending,
        )
