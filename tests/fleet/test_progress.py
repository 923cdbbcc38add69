"""The progress display: plain lines off a terminal, a live table on one."""

from __future__ import annotations

import io

from rich.console import Console

from felhom_provider.fleet.progress import Progress


def drive(progress: Progress) -> None:
    progress.add("acme", "pve1", 0)
    progress.add("beta", "pve2", 1)
    progress.state("acme", "running")
    progress.line("acme", "  acme-web: restored as CT 101 [urn=x]  ")
    progress.resource_done("acme")
    progress.state("acme", "waiting", "locked by ci@runner (pid 7); waiting")
    progress.state("acme", "succeeded")
    progress.state("beta", "skipped", "not started: 1 stack(s) failed")


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    with Progress(Console(file=out, width=200), "t") as progress:
        drive(progress)
    assert out.getvalue().splitlines() == [
        "[acme] running",
        "[acme] waiting: locked by ci@runner (pid 7); waiting",
        "[acme] succeeded",
        "[beta] skipped: not started: 1 stack(s) failed",
    ]
    assert progress.rows["acme"].done == 1


def test_live_table_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system=None)
    with Progress(console, "fleet up") as progress:
        drive(progress)
    final = out.getvalue()
    assert "fleet up" in final
    assert "succeeded" in final and "skipped" in final
    assert "locked by ci@runner (pid 7)" in final  # the last line shown for acme
