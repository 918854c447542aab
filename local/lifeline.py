"""Run a module as a child of the local launcher that stops itself once the launcher is gone.

`python -m local.lifeline FD MODULE [ARGS...]` runs `python -m MODULE ARGS...` in this process.
FD is the read end of a pipe whose only write end the launcher holds, so it reads end-of-file
when the launcher exits for any reason, SIGKILL included. The child then stops the way the
launcher would have stopped it. Linux's PR_SET_PDEATHSIG does this on Linux only; a pipe works
on macOS too. Standard library only: it runs inside the RAG API's process as well.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

# As long as the launcher gives a child to stop before it kills it (local.processes).
GRACE_S = 10.0


def _stop_when_closed(fd: int) -> None:
    while os.read(fd, 1):  # blocks: the launcher never writes
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: python -m local.lifeline FD MODULE [ARGS...]")
    fd, module, args = int(argv[0]), argv[1], argv[2:]
    os.fstat(fd)  # fail here, not in the thread, if the launcher passed no such descriptor
    threading.Thread(target=_stop_when_closed, args=(fd,), name="lifeline", daemon=True).start()
    # Until a server installs its own handlers, SIGINT and SIGTERM end this child at once and
    # quietly, even where the launcher's shell ignored them: Ctrl-C reaches the whole group,
    # and a KeyboardInterrupt traceback from whatever import or model load was running would
    # only repeat what the launcher reports.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
