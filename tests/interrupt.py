"""Run a root script and stop it for good (SIGKILL) or for a while (SIGSTOP) at a chosen step: just
before a rename onto a path (`rename`) or onto a file of that name anywhere (`write`: atomic
writes end with one), or when it starts a program whose arguments mention a text (`program`).

    python -m tests.interrupt kill|stop rename|write|program TEXT SCRIPT.py ARGS...

The step is found with a Python audit hook (`sys.addaudithook`: `os.rename`, raised by os.replace
too, and `subprocess.Popen` events), so the script's own code runs unchanged up to that instant and
leaves on disk exactly what a kill -9 there leaves.
"""

import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

SIGNALS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def run_interrupted(action: str, step: str, text: str, script: str, *args: object, env: dict,
                    ) -> subprocess.Popen:
    """Start `script` under this module; the caller waits for it (kill) or for it to stop (stop)."""
    return subprocess.Popen([sys.executable, "-m", "tests.interrupt", action, step, str(text),
                             str(ROOT / script), *map(str, args)], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_stopped(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until `process` has stopped itself (state T in /proc); AssertionError if it ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.05)
    raise AssertionError(f"{process.args} did not reach its stop")


def main() -> None:
    action, step, text, script, *args = sys.argv[1:]
    number = SIGNALS[action]

    def hook(event: str, event_args: tuple) -> None:
        if event == "os.rename" and (step == "rename" and os.fspath(event_args[1]) == text
                                     or step == "write" and Path(event_args[1]).name == text):
            os.kill(os.getpid(), number)
        if step == "program" and event == "subprocess.Popen" and any(text in str(a) for a in event_args[1]):
            os.kill(os.getpid(), number)

    sys.argv = [script, *args]
    sys.addaudithook(hook)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
