"""The trace spool: spans waiting for the lake, as JSONL segments on local disk.

Kept free of the OpenTelemetry SDK and of pyarrow, so that the Claude Code hook (which runs
before every tool call, on a latency budget) can leave a span here with one small file write;
the next process whose span processor reaches the lake replays it.

A segment is one batch: its name carries the batch id (``<time_ns>-<batch id>.jsonl``), so a
replay that is repeated — a crash after the commit, two processes replaying the same segment —
is dropped by the lake's exactly-once check. Segments appear whole (written, then renamed) and
are replayed oldest first.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status",
    "tenant",
    "agent",
    "tool",
    "decision",
    "input_tokens",
    "output_tokens",
    "cost",
    "attributes",
)
"""The lake's ``spans`` columns, in order (``lakehouse.tables.TABLES['spans']``)."""

LIFTED = {
    "tenant": "auraison.tenant",
    "agent": "gen_ai.agent.name",
    "tool": "gen_ai.tool.name",
    "decision": "auraison.decision",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cost": "auraison.cost",
}
"""Span attributes that also get a column of their own (they are what queries filter on)."""

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def new_batch_id() -> str:
    """Time-ordered and unique (the lake's lookup by batch id prunes on it)."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def span_row(
    name: str,
    attributes: dict[str, Any],
    *,
    kind: str = "internal",
    status: str = "unset",
    start_ns: int | None = None,
    end_ns: int | None = None,
    trace_id: str | None = None,
    parent_id: str | None = None,
) -> dict[str, Any]:
    """One span as a ``spans`` row, made without the SDK (the hook's spans)."""
    end = end_ns or time.time_ns()
    row: dict[str, Any] = {
        "trace_id": trace_id or os.urandom(16).hex(),
        "span_id": os.urandom(8).hex(),
        "parent_id": parent_id,
        "name": name,
        "kind": kind,
        "start_ns": start_ns or end,
        "end_ns": end,
        "status": status,
    }
    for column, attr in LIFTED.items():
        row[column] = attributes.get(attr)
    row["attributes"] = attributes
    return row


class Spool:
    """An append-only directory of JSONL segments, one batch each, replayed oldest first."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory

    def append(self, rows: Iterable[dict[str, Any]], batch_id: str | None = None) -> Path:
        """Write one segment (a batch keeps its id: replaying it twice adds it once)."""
        batch_id = batch_id or new_batch_id()
        path = self.dir / f"{time.time_ns():020d}-{batch_id}.jsonl"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("".join(_encode(r) + "\n" for r in rows))
        tmp.rename(path)  # a segment appears whole or not at all
        return path

    def segments(self) -> list[Path]:
        """Segments to replay, oldest first: unclaimed ones, and ones a process that has since
        died had claimed."""
        free = list(self.dir.glob("*.jsonl"))
        orphans = [p for p in self.dir.glob("*.jsonl.*.claimed") if not pid_alive(int(p.suffixes[-2][1:]))]
        return sorted(free + orphans, key=lambda p: p.name)

    def claim(self, segment: Path) -> Path | None:
        """Take ``segment`` for this process (an atomic rename), so that of several processes
        replaying one spool — the hook's spans wait for whichever traces next — one commits it;
        ``None`` when another process took it first."""
        original = _original(segment)
        target = original.with_name(f"{original.name}.{os.getpid()}.claimed")
        try:
            segment.rename(target)
        except FileNotFoundError:
            return None
        return target

    @staticmethod
    def release(claimed: Path) -> None:
        """Give a claimed segment back (its replay failed): the next drain tries it again."""
        claimed.rename(_original(claimed))

    @staticmethod
    def batch_id(segment: Path) -> str:
        """The batch id a segment was written with (older segments: one from its name)."""
        stem = _original(segment).stem
        _, sep, rest = stem.partition("-")
        return rest if sep and rest else f"spool-{stem}"

    @staticmethod
    def read(segment: Path) -> list[dict[str, Any]]:
        """A segment's rows; a last line cut short (a write-ahead whose process was killed in
        the middle of writing it) is left out: its call was never answered."""
        lines = [line for line in segment.read_text().splitlines() if line]
        rows = []
        for i, line in enumerate(lines):
            try:
                rows.append(json.loads(line))
            except ValueError:
                if i < len(lines) - 1:
                    raise
        return rows

    def rows(self, in_flight: bool = False) -> int:
        """Rows waiting in the spool; a segment a drain takes for replay meanwhile is not
        waiting any more (it is counted again if the replay fails and gives it back). With
        ``in_flight``, rows a live drain has taken and is replaying now count too: they are not
        in the lake yet (a live process's write-aheads do not: its buffer holds those rows)."""
        segments = self.segments()
        if in_flight:  # segments() holds a dead process's claims already; add the live ones'
            claims = self.dir.glob("*.jsonl.*.claimed")
            segments = {*segments, *(p for p in claims if not p.name.startswith(WRITE_AHEAD_PREFIX))}
        n = 0
        for p in segments:
            with contextlib.suppress(FileNotFoundError), p.open() as f:
                n += sum(1 for _ in f)
        return n


WRITE_AHEAD_PREFIX = "9" * 20
"""A write-ahead segment's time prefix: it sorts after every spooled copy of its batch, so a
full copy (same batch id) replays first and the write-ahead subset of it is then a no-op."""


class WriteAhead:
    """The tool-call spans of one buffer generation, on disk before the drain commits them.

    A span processor buffers spans in memory for a second or so; a SIGKILLed process loses that
    buffer, and with it the record of calls it already answered. So each tool-call span is also
    written here (one ``os.write``: it is the kernel's once the call returns) into the segment of
    the batch that will carry it, named as if this process had claimed it. While the process
    lives nobody touches it, and the drain deletes it once its batch is committed or spooled;
    once the process is dead, ``Spool.segments`` offers it as an orphan and the next process's
    replay commits it under the batch id the drain would have used — so a batch that did land
    adds nothing again, and one that did not lands its tool-call spans. Exactly once either way.
    """

    def __init__(self, spool: Spool, base: str) -> None:
        self.spool, self.base = spool, base
        self._fds: dict[int, int] = {}

    def batch_id(self, part: int) -> str:
        """The batch id of the generation's ``part``-th batch (the drain uses the same)."""
        return f"{self.base}-{part}"

    def path(self, part: int) -> Path:
        name = f"{WRITE_AHEAD_PREFIX}-{self.batch_id(part)}.jsonl.{os.getpid()}.claimed"
        return self.spool.dir / name

    def write(self, part: int, line: bytes) -> None:
        fd = self._fds.get(part)
        if fd is None:
            fd = os.open(self.path(part), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fds[part] = fd
        os.write(fd, line)

    def discard(self) -> None:
        """The generation's batches are committed or spooled: its write-ahead is not needed."""
        fds, self._fds = self._fds, {}
        for part, fd in fds.items():
            os.close(fd)
            self.path(part).unlink(missing_ok=True)


def encode_row(row: dict[str, Any]) -> bytes:
    """One spool line."""
    return (_encode(row) + "\n").encode()


def _original(segment: Path) -> Path:
    """``<name>.jsonl`` from ``<name>.jsonl.<pid>.claimed`` (or the name itself)."""
    name = segment.name
    if name.endswith(".claimed"):
        name = name[: name.index(".jsonl.") + len(".jsonl")]
    return segment.with_name(name)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (what it left behind is still its own): a zombie —
    exited, not yet reaped by its parent — does not."""
    if pid == os.getpid():
        return True  # this process's own claim: in hand while it replays
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False  # gone since the signal
    except (OSError, IndexError):
        return True
