"""Shared terminal output: one console, progress bars and tables for results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def progress() -> Progress:
    """A progress bar for long steps."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def progress_callback(bar: Progress, description: str) -> Callable[[int, int], None]:
    """An `on_progress(done, total)` callback (as `TitleEncoder.encode` takes) that drives one
    task of `bar`, added on the first call: nothing shows when the work is skipped (cached)."""
    task: list[TaskID] = []

    def update(done: int, total: int) -> None:
        if not task:
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=done, total=total)

    return update


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[object]]) -> Table:
    """A results table; floats are shown with 4 significant digits."""
    t = Table(title=title)
    for c in columns:
        t.add_column(str(c))
    for row in rows:
        t.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    return t


def kv_table(title: str, values: Mapping[str, object]) -> Table:
    return table(title, ["", "value"], values.items())
