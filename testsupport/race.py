"""Run workers at once (threads released together by a barrier), for tests that prove a
read-modify-write loses nothing under a real race."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(workers: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run `work(index)` for `workers` indexes, each in its own thread, started together;
    the exceptions they raised (none is the expected answer)."""
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:  # reported to the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
