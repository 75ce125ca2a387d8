"""Progress bars for long scans, drawn on standard error so output files and pipes stay clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from steward.cli.consoles import stderr

ProgressCallback = Callable[[float], None]


@contextmanager
def scan_progress(*, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a callback taking the fraction done (0..1), or None when disabled."""
    if not enabled:
        yield None
        return
    # imported here: a quiet run does without rich
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr(), transient=True) as progress:
        task = progress.add_task("Scanning data", total=1.0)

        def update(fraction: float) -> None:
            progress.update(task, completed=min(max(fraction, 0.0), 1.0))

        yield update
