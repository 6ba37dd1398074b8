"""Errors the CLIs report as one line: bad input, a failed run, and the CLIs' parser.

The CLIs print an :class:`InputError` as one line naming the field and the value and exit
with status 2; a :class:`RunError` (a task that kept raising, an output that cannot be
written) and a :class:`ClusterError` (a scheduler that cannot be reached) as one line with
status 1; :class:`OneLineParser` makes argparse's own errors the same one line as an
:class:`InputError`.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, NoReturn


class InputError(ValueError):
    """Bad input, named by the field it is in.

    Parameters
    ----------
    field : str
        Where the bad value is, e.g. ``"grid.s"`` or ``"--workers"``.
    value : object
        The offending value (shown with ``repr``).
    problem : str
        What is wrong with it.
    """

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field} = {value!r}: {problem}")


class RunError(RuntimeError):
    """A sweep that cannot finish: a task raised on every retry, or a file cannot be
    written. Finished parts are kept; the message says what failed."""


class ClusterError(RuntimeError):
    """A cluster that cannot be reached: said before the parts folder is touched, so
    nothing was run and nothing written."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr and exit status 2,
    not argparse's usage block: the contract's "one clear line" (``docs/design.md#cli``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM — a batch scheduler's walltime, ``scancel``/``qdel``, preemption, ``timeout`` —
    raised where Ctrl-C raises :class:`KeyboardInterrupt`, so that the same clean-up runs:
    the cluster and its workers shut down, the parts folder's lock is released."""


def _raise_terminated(signum, frame):
    raise Terminated()


def stopped(exc: BaseException) -> tuple[str, int]:
    """How a CLI names a stop, and its exit status: SIGTERM's 143 (128 + 15, as a shell
    reports it) or Ctrl-C's 130."""
    return ("terminated", 128 + signal.SIGTERM) if isinstance(exc, Terminated) else ("interrupted", 130)


def _redeliver(previous):
    """An unraisable-exception hook for stops: a Ctrl-C or SIGTERM whose exception was
    raised inside a garbage-collector callback or a ``__del__`` (distributed has one of
    each) cannot propagate; Python would print it as "Exception ignored" and go on, the
    stop lost. It is signalled again instead, to land in the main thread's own code."""

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
            # from another thread, a moment later: signalled from here, the handler would run
            # inside this hook and be swallowed again
            threading.Timer(0.05, _thread.interrupt_main, (signum,)).start()
            return
        previous(unraisable)

    return hook


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside: SIGTERM raises :class:`Terminated` in this (the main) thread, and a stop
    swallowed where exceptions cannot propagate is delivered again (:func:`_redeliver`).
    After: the defaults again, so a signal that lands while the CLI prints its last line
    ends the process quietly (status 143 either way) instead of in a traceback."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    previous = sys.unraisablehook
    sys.unraisablehook = _redeliver(previous)
    try:
        yield
    finally:
        sys.unraisablehook = previous
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
