"""structlog: JSON for machines, with the trace identifiers bound where known."""

from __future__ import annotations

import json

import pytest
import structlog

from auraison.logging import bind_trace, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _reset() -> None:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def test_json_lines_carry_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    bind_trace(trace_id="t1", span_id="s1", tenant="acme")
    get_logger("x").info("tool_called", tool="robot_stop")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "tool_called" and line["tool"] == "robot_stop"
    assert (line["trace_id"], line["span_id"], line["tenant"]) == ("t1", "s1", "acme")
    assert line["level"] == "info" and "timestamp" in line


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "warning")
    get_logger().info("hidden")
    get_logger().warning("shown")
    err = capsys.readouterr().err
    assert "shown" in err and "hidden" not in err
