"""Declared field tables of the resources: each input written once (see ``field``)."""
