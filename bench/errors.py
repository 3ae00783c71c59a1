"""The benchmarks' own errors: one root, so ``python -m bench`` can print any of them as a
clear message and exit 2 instead of a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark could not run."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
