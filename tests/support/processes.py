"""Starting the commands a test interrupts."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """`preexec_fn` for a command the test stops with SIGINT (Ctrl-C): SIGINT back to its default in the
    child. Run as a background job of a non-interactive shell, the tests inherit SIGINT ignored, and a
    Python started with it ignored never installs its KeyboardInterrupt handler: the command would
    ignore the test's Ctrl-C and the test would wait out its timeout."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
