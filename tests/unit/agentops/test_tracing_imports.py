"""The producer side of the trace pipeline loads no Arrow: every process imports it at start
(the gateway Claude Code waits for), and pyarrow with NumPy would add a fifth to that."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_tracer_loads_neither_pyarrow_nor_numpy() -> None:
    """Only writing a batch (span_arrow) brings them in."""
    code = (
        "import sys; import auraison.agentops.tracing, auraison.agentops.factory; "
        "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
