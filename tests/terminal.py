"""Run a command as a person at a terminal would: its stdin is a pseudo-terminal.

Deciding approvals at the local CLI needs one (``auraison.principals``); tests that play the
person use this, and tests that play an agent's shell pass no terminal.
"""

from __future__ import annotations

import os
import subprocess


def run_at_terminal(
    args: list[str], env: dict[str, str], timeout: float = 60, typed: str = ""
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` with a pty as stdin holding the ``typed`` lines; stdout and stderr
    are captured as text."""
    leader, follower = os.openpty()
    try:
        if typed:
            os.write(leader, typed.encode())
        return subprocess.run(
            args, stdin=follower, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    finally:
        os.close(leader)
        os.close(follower)
