"""What every helper process of the runtime shares (delivery, capture, index ingest): how the child
takes the socket it was started with, and how the parent says how a child ended."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["child_socket", "exit_text"]


def child_socket(argv: Sequence[str] | None, module: str, started_by: str) -> socket.socket | None:
    """In the child: the socket whose descriptor is its one argument, or None (usage written) when run by hand.

    SIGINT and SIGTERM are ignored: Ctrl-C reaches the whole process group, and the parent, not the
    terminal, decides when its helper stops (it drains first). The descriptor is not inherited further.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        sys.stderr.write(f"usage: python -m {module} <socket fd> (started by {started_by})\n")
        return None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.set_inheritable(int(args[0]), False)
    return socket.socket(fileno=int(args[0]))


def exit_text(process: subprocess.Popen[bytes]) -> str:
    """In the parent: how ``process`` ended, for messages (its socket closes a moment before it can be reaped)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(1.0)
    code = process.poll()
    if code is None:
        return "closed its socket"
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
