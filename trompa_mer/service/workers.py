"""Several server processes on one listening socket (serve.py --workers N), forked from the one that
bound it: the kernel hands each connection to one of them. The user folders' locks are file locks, so
they hold across the processes as they do across the scripts."""

import contextlib
import os
import signal
from collections.abc import Callable


def run_workers(serve: Callable[[], None], workers: int) -> None:
    """`serve()` here when `workers` is 1, else in that many forked processes; SIGTERM and SIGINT are
    passed on to them, and when one ends, the others are stopped too."""
    if workers == 1:
        serve()
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: it never returns into the parent's code
            code = 1
            try:
                serve()
                code = 0
            finally:
                os._exit(code)
        children.append(pid)

    def stop(signum: int, _frame: object = None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ended, _ = os.wait()
    stop(signal.SIGTERM)
    for child in children:
        if child != ended:
            os.waitpid(child, 0)
