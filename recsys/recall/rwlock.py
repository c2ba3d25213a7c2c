"""A readers-writer lock: many searches at once, or one update.

Searches only read the index (FAISS searches are safe to run concurrently); adding or removing
jobs must not overlap any search. Writers go first once waiting, so a stream of searches cannot
starve an update. The writing thread may re-enter (an `add` that removes replaced ids).
`holding(mode)` runs a method of an object with a `_lock` under it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, Literal, ParamSpec, Protocol, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")
_L = TypeVar("_L", bound="_Locked")


class ReadWriteLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0
        self._waiting_writers = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer != me:
                while self._writer is not None or self._waiting_writers:
                    self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            else:
                self._waiting_writers += 1
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._waiting_writers -= 1
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._cond.notify_all()


class _Locked(Protocol):
    _lock: ReadWriteLock


def holding(
    mode: Literal["reading", "writing"],
) -> Callable[[Callable[Concatenate[_L, _P], _R]], Callable[Concatenate[_L, _P], _R]]:
    """Run the method holding `self._lock`: as a reader (alongside other readers, never during
    an update) or as the writer (alone, so no reader sees a half-applied update)."""

    def decorate(method: Callable[Concatenate[_L, _P], _R]) -> Callable[Concatenate[_L, _P], _R]:
        @functools.wraps(method)
        def wrapper(self: _L, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with getattr(self._lock, mode)():
                return method(self, *args, **kwargs)

        return wrapper

    return decorate
