"""Tool-call spans survive a SIGKILL: the span processor's write-ahead (``spool.WriteAhead``).

A child process traces tool calls through a ``SinkProcessor`` and is killed with SIGKILL — once
before its drain ran, once in the middle of committing (after the sink took the batch, before
the write-ahead was deleted). The next process's drain commits what the dead one had answered,
exactly once, through a sink that is exactly once by batch id (a fake of the lake's port that
keeps its batches in a file, so that two processes share it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa

from auraison.agentops.spool import Spool
from auraison.agentops.tracing import SinkProcessor

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from opentelemetry.sdk.trace import TracerProvider
    sys.path.insert(0, {tests!r})
    from test_write_ahead import FileSink
    from auraison.agentops.tracing import SinkProcessor

    crash_in_commit = sys.argv[2] == "commit"
    proc = SinkProcessor(FileSink(Path(sys.argv[1]) / "lake.jsonl", crash=crash_in_commit),
                         Path(sys.argv[1]) / "spool", interval_s=3600, write_ahead=True)
    provider = TracerProvider()
    provider.add_span_processor(proc)
    tracer = provider.get_tracer("t")
    decided = {{"auraison.decision": "allow"}}
    for i in range(3):  # three tool calls answered, one model span that is not a call
        with tracer.start_as_current_span(f"execute_tool t{{i}}", attributes=decided):
            pass
    with tracer.start_as_current_span("chat m"):
        pass
    if crash_in_commit:
        proc.force_flush()  # the sink kills the process once it has the batch
    print("answered", flush=True)
    signal.pause()
    """
)


class FileSink:
    """The lake's port, exactly once by batch id, kept in a JSONL file; ``crash`` kills the
    process right after a first commit (before the processor can tidy up)."""

    def __init__(self, path: Path, crash: bool = False) -> None:
        self.path, self.crash = path, crash

    def batches(self) -> dict[str, list[str]]:
        if not self.path.exists():
            return {}
        return {b["id"]: b["spans"] for b in map(json.loads, self.path.read_text().splitlines())}

    def write(self, batch: pa.Table, batch_id: str, replay: bool = True) -> None:
        if batch_id in self.batches():
            return
        line = json.dumps({"id": batch_id, "spans": batch.column("name").to_pylist()})
        with self.path.open("a") as f:
            f.write(line + "\n")
        if self.crash:
            os.kill(os.getpid(), signal.SIGKILL)


def killed(tmp_path: Path, when: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(Path(__file__).parent)))
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), when], stdout=subprocess.PIPE, text=True
    )
    if when == "commit":
        assert child.wait(60) == -signal.SIGKILL  # killed by its own sink, mid-commit
    else:
        assert child.stdout.readline().strip() == "answered"
        child.kill()
        child.wait(60)


def recovered(tmp_path: Path) -> FileSink:
    sink = FileSink(tmp_path / "lake.jsonl")
    proc = SinkProcessor(sink, tmp_path / "spool", interval_s=3600, write_ahead=True)
    try:
        assert proc.force_flush()
        assert proc.force_flush()  # a second drain finds nothing left to replay
    finally:
        proc.shutdown()
    assert not list((tmp_path / "spool").iterdir())  # nothing left behind
    return sink


def test_a_killed_process_loses_none_of_the_calls_it_answered(tmp_path: Path) -> None:
    killed(tmp_path, "before the drain")
    assert FileSink(tmp_path / "lake.jsonl").batches() == {}  # its buffer died with it
    assert len(Spool(tmp_path / "spool").segments()) == 1  # but its write-ahead did not
    spans = [s for b in recovered(tmp_path).batches().values() for s in b]
    assert sorted(spans) == ["execute_tool t0", "execute_tool t1", "execute_tool t2"]


def test_a_batch_committed_before_the_kill_is_not_added_again(tmp_path: Path) -> None:
    killed(tmp_path, "commit")
    committed = FileSink(tmp_path / "lake.jsonl").batches()
    assert [sorted(b) for b in committed.values()] == [
        ["chat m", "execute_tool t0", "execute_tool t1", "execute_tool t2"]
    ]
    assert len(Spool(tmp_path / "spool").segments()) == 1  # the write-ahead outlived the commit
    assert recovered(tmp_path).batches() == committed  # its replay is the same batch: a no-op


def test_rows_in_flight_count_a_segment_a_live_drain_is_replaying(tmp_path: Path) -> None:
    """A segment a live drain has claimed is not waiting (another drain must leave it), but it
    is not in the lake either: ``rows(in_flight=True)`` counts it; a live write-ahead, whose
    rows its process still buffers, is never counted."""
    spool = Spool(tmp_path / "spool")
    spool.append([{"span_id": f"{i:016x}"} for i in range(3)], "b1")
    waiting = spool.append([{"span_id": f"{i:016x}"} for i in range(3, 5)], "b2")
    claimed = spool.claim(waiting)
    assert claimed is not None
    ahead = spool.dir / f"{'9' * 20}-b3.jsonl.{os.getpid()}.claimed"
    ahead.write_text('{"span_id": "00000000000000ff"}\n')
    assert spool.rows() == 3
    assert spool.rows(in_flight=True) == 5
    Spool.release(claimed)
    assert spool.rows() == spool.rows(in_flight=True) == 5
