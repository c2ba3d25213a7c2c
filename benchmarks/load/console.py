"""The console the load benchmark prints to, wide enough for its tables in a log file."""

from __future__ import annotations

from rich.console import Console

from recsys.cli import console as shared_console

#: the shared console, or one wide enough for the tables when output goes to a file or pipe.
console = (
    shared_console.console
    if shared_console.console.is_terminal
    else Console(width=max(shared_console.console.width, 150))
)
