"""The watchdog node's heartbeat model and lease book: what a bad message does (nothing, so the
lease still runs out), and when each holder's lease ends."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from auraison.mcp_servers.robot.watchdog import Heartbeat, LeaseBook


def beat(**body: object) -> Heartbeat:
    return Heartbeat.model_validate_json(json.dumps(body))


@pytest.mark.parametrize(
    "body",
    [
        {"holder": "h", "state": "held", "ttl_s": 0},
        {"holder": "h", "state": "held", "ttl_s": -1},
        {"holder": "h", "state": "held"},
        {"holder": "", "state": "held", "ttl_s": 1},
        {"holder": "h", "state": "expired", "ttl_s": 1},
    ],
)
def test_a_heartbeat_that_does_not_validate_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        beat(**body)
    with pytest.raises(ValidationError):
        Heartbeat.model_validate_json('{"holder": "h", "state": "held", "ttl_s": NaN}')


def test_each_holder_runs_out_on_its_own_and_a_release_drops_it() -> None:
    book = LeaseBook()
    assert book.renew(beat(holder="a", state="held", ttl_s=1.0), now=10.0) is True
    assert book.renew(beat(holder="b", state="held", ttl_s=2.0), now=10.0) is True
    assert book.renew(beat(holder="a", state="held", ttl_s=1.0, seq=2), now=10.5) is False
    assert book.next_deadline() == 11.5
    assert book.pop_expired(11.4) == []
    assert [h for h, _ in book.pop_expired(11.5)] == ["a"]
    assert book.pop_expired(11.6) == []  # halted once, not again
    assert book.release("b") is True and book.release("b") is False
    assert book.next_deadline() is None
