"""The bring-up engine against the in-process PVE simulator (API, node shell, guests)."""
