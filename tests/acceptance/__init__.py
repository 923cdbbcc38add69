"""The acceptance suite: the product's end-to-end scenarios against a real PVE 9 node (or the
simulator when no target is set). How to run it: docs/acceptance.md."""
