"""The fleet runner: one command over many customer stacks.

``felhom fleet list|preview|up|refresh|destroy|outputs|inventory`` (also
``python -m felhom_provider.fleet``) runs Pulumi operations through the Automation API over the
stacks in ``stacks/`` or a selection of them, concurrently within bounds (``--parallel`` and a
per-PVE-node bound), in waves (a canary wave, then waves of a given size), stopping when too
many stacks failed; it shows live progress and ends with a summary table and a JSON report.
``inventory`` turns every stack's outputs into an Ansible inventory, a ``known_hosts`` file
and a JSON document without calling PVE. docs/fleet.md describes it.

Modules: ``stacks`` (discovery, selection), ``waves`` (wave planning and the bounded
scheduler), ``workspace`` (the Automation API side: environment, backend, stack operations,
Pulumi's stack locks), ``progress`` (live display), ``report`` (results, summary, JSON),
``inventory`` and ``cli``.
"""
