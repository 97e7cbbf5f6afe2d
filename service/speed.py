"""Every speed trick of the service, in one place, each with a plain path.

A national round (5,000 structures) is written by the command line in a fresh process; four
tricks make it fast, none of them changes a byte of any output:

- :func:`gc_paused` pauses the cyclic garbage collector while a round is built and explained;
- :func:`fork_work` runs half of the explanations in a forked child that writes its bytes to
  an unnamed in-memory file (:func:`spool`), read back mapped in place;
- :func:`leave_now` ends the ``allocator`` program without the interpreter's teardown once its
  output is written (:class:`QuickExit` says when it may).

``ALLOCATOR_FAST=0`` (read at each use, :func:`fast`) turns every one of them off: the collector
runs as usual, a round is explained in one process, the program exits the normal way. The test
suite checks that both paths write the same bytes (``tests/service/test_speed.py``).

This module imports nothing of the service: any layer may use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import mmap
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import IO

#: The environment variable that turns the speed tricks off (value ``0``).
ENV_VAR = "ALLOCATOR_FAST"


def fast() -> bool:
    """Whether the speed tricks are on: unless ``ALLOCATOR_FAST`` is ``0`` (the default is on)."""
    return os.environ.get(ENV_VAR, "1").strip() != "0"


@contextlib.contextmanager
def gc_paused(*, promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a round is explained (or, in ``allocate``, built).

    A national round builds a few hundred thousand small dicts and lists, none of them in a
    reference cycle, and the collections their number triggers walk the whole heap again and
    again (they cost more than the explanations themselves). Reference counting frees
    everything as usual. Pauses nest: the collector resumes when the outermost one ends.

    ``promote``: the explanations built under the pause are long-lived (kept in the result):
    hand them, with whatever else is young, straight to the oldest generation, where they would
    end up after two more passes of the young generations over them. Skipped when the process
    keeps frozen objects of its own (``gc.freeze`` before a fork).

    With :func:`fast` off, the collector is left as it is.
    """
    if not fast():
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if promote and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def can_fork() -> bool:
    """Whether work may be handed to a forked child: :func:`fast` on and ``os.fork`` exists."""
    return fast() and hasattr(os, "fork")


def spool() -> IO[bytes]:
    """An unnamed read-write file for a child's bytes: in memory where the platform allows.

    ``memfd_create`` (Linux) gives a file in memory with no size limit but the machine's
    memory: writing a national round's half (≈38 MB) there takes a few milliseconds, against
    ≈80 ms for a temporary file on disk. Elsewhere, a temporary file.
    """
    if hasattr(os, "memfd_create"):
        try:
            return open(os.memfd_create("allocator-encode", os.MFD_CLOEXEC), "w+b")
        except OSError:  # pragma: no cover - e.g. forbidden by a seccomp profile
            pass
    return tempfile.TemporaryFile()


def fork_work(work: Callable[[], bytes]) -> Callable[[], bytes | mmap.mmap]:
    """Run ``work()`` in a forked child; return the function that collects its bytes.

    Call only when :func:`can_fork`. The child writes its bytes to an unnamed file opened
    before the fork (:func:`spool`, so that it never waits for the parent to read, as it would
    on a pipe) and leaves with ``os._exit`` (no exit handlers, no flush of the parent's
    buffers). The collector reaps the child, raises ``RuntimeError`` when it failed, and maps
    the file read-only (``b""`` when it is empty; the caller closes the map).
    """
    out = spool()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads alive (BLAS pools sleep in numpy): the
        # child only runs pure Python and orjson, then leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its bytes are checked by the parent's tests
        code = 1
        try:
            out.write(work())
            out.flush()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)

    def collect() -> bytes | mmap.mmap:
        with out:
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise RuntimeError(f"explanation worker failed (wait status {status})")
            size = out.seek(0, os.SEEK_END)
            if not size:
                return b""
            if hasattr(mmap, "MAP_POPULATE"):  # Linux: the pages mapped at once, not on fault
                return mmap.mmap(
                    out.fileno(),
                    size,
                    flags=mmap.MAP_SHARED | mmap.MAP_POPULATE,
                    prot=mmap.PROT_READ,
                )
            return mmap.mmap(out.fileno(), size, access=mmap.ACCESS_READ)

    return collect


@dataclasses.dataclass
class QuickExit:
    """Handed by the ``allocator`` program to its commands (click's ``obj``): a command whose
    output is written and flushed, and which holds nothing else to release, says so with
    :meth:`request`; the program then ends with :func:`leave_now`. Commands run by a test
    runner get no such object and exit the normal way."""

    requested: bool = False

    def request(self) -> None:
        self.requested = True


def leave_now(code: int = 0) -> None:
    """End the process at once, without the interpreter's teardown (when :func:`fast`).

    At exit, the interpreter frees every module and every object one by one: about 0.1 s after
    a national round, for memory the operating system takes back in one go. The log handlers
    are flushed and closed (:func:`logging.shutdown`, the one exit handler the command line
    relies on), then stdout and stderr, then ``os._exit``. With :func:`fast` off this returns,
    and the caller exits the normal way.
    """
    if not fast():
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
