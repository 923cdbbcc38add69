"""``python -m felhom_provider.fleet``: the same as the ``felhom fleet`` command."""

from felhom_provider.fleet.cli import main

main(prog="python -m felhom_provider.fleet", fleet_only=True)
