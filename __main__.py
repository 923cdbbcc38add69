"""Felhom customer Docker hosts on Proxmox VE: one stack per customer.

The stack config (``stacks/Pulumi.<stack>.yaml``, documented in docs/stack-config.md)
names the PVE endpoint, the golden image (built here, a given archive, or another stack's
output) and the customer's guests. This file only wires the validated config to the
resources; the parsing lives in ``felhom_provider.program``.

Exports:
    goldenImage  the archive the guests are restored from (and its build facts)
    guests       ``{name: {vmid, node, hostname, mac, ipv4, hostKeys, ...}}``
    stackId      the stack's id, part of every ownership marker (kept in state)
"""

import pulumi
from pulumi.runtime.config import get_config, is_config_secret

from felhom_provider.errors import ConfigError
from felhom_provider.program import declare, load_program_config
from felhom_provider.settings import KEY_TOKEN_SECRET


def main() -> None:
    """Validate the stack config, declare the resources, export the outputs."""
    try:
        config = load_program_config(
            get_config,
            project=pulumi.get_project(),
            stack=pulumi.get_stack(),
            secret_is_set=get_config(KEY_TOKEN_SECRET) is not None,
        )
        if get_config(KEY_TOKEN_SECRET) is not None and not is_config_secret(KEY_TOKEN_SECRET):
            raise ConfigError(
                KEY_TOKEN_SECRET,
                "must be stored as a secret: `pulumi config set --secret felhom:pveTokenSecret`",
            )
    except ConfigError as exc:
        # A RunError prints its message without a traceback: the key and the problem.
        raise pulumi.RunError(f"invalid stack config: {exc}") from None
    outputs = declare(config)
    pulumi.export("goldenImage", outputs.golden_image)
    pulumi.export("guests", outputs.guests)
    pulumi.export("stackId", outputs.stack_id)


main()
