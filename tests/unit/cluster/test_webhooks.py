"""Where a job's completion webhook may go: public addresses, or what ``control.webhook_allow``
names — never loopback, the private network or the cloud metadata service by default, whether
the URL names the address or a hostname that resolves to it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from auraison.agentops.engine import AgentOps
from auraison.mcp_servers.cluster import webhooks
from auraison.mcp_servers.cluster.http_api import build_app
from auraison.mcp_servers.cluster.webhooks import CallbackRefused, check_callback
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.servers import Receiver

REFUSED = [
    ("http://127.0.0.1:8080/done", "loopback"),
    ("http://127.9.9.9/done", "loopback"),
    ("http://[::1]:9000/done", "loopback"),
    ("http://[::ffff:127.0.0.1]/done", "loopback"),
    ("http://2130706433/done", "loopback"),  # 127.0.0.1 spelled as one number
    ("http://10.1.2.3/done", "private"),
    ("http://172.16.0.1/done", "private"),
    ("http://172.31.255.254/done", "private"),
    ("http://192.168.1.10/done", "private"),
    ("http://[fc00::1]/done", "private"),
    ("http://[fd12:3456::1]/done", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/done", "link-local"),
    ("http://0.0.0.0:8080/done", "unspecified"),
    ("http://localhost:8080/done", "loopback"),  # a hostname that resolves into loopback
    ("http://no-such-host.invalid/done", "does not resolve"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_internal_destinations_are_refused(url: str, why: str) -> None:
    with pytest.raises(CallbackRefused, match=why) as refused:
        check_callback(url)
    assert "control.webhook_allow" in str(refused.value) and refused.value.status_code == 422


def test_public_addresses_and_allow_listed_ones_pass() -> None:
    check_callback("https://93.184.215.14/hooks/done")  # a public address
    check_callback("http://172.32.0.1/done")  # just outside 172.16/12
    check_callback("http://127.0.0.1:8080/done", ["127.0.0.1"])  # a host: any port
    check_callback("http://localhost:8080/done", ["localhost"])
    check_callback("http://10.0.0.5:9000/hooks/job", ["http://10.0.0.5:9000/hooks/"])  # a prefix
    check_callback("http://10.20.3.4/done", ["10.20.0.0/16"])  # a network
    check_callback("http://[::1]:9000/done", ["::1"])


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://10.0.0.5:9001/hooks/job", ["http://10.0.0.5:9000/hooks/"]),  # another port
        ("http://10.0.0.5:9000/admin", ["http://10.0.0.5:9000/hooks/"]),  # outside the prefix
        ("https://10.0.0.5:9000/hooks/job", ["http://10.0.0.5:9000/hooks/"]),  # another scheme
        ("http://127.0.0.1.nip.invalid/done", ["http://127.0.0.1"]),  # a prefix is no string prefix
        ("http://10.21.0.1/done", ["10.20.0.0/16"]),
        ("http://169.254.169.254/latest", ["127.0.0.1", "10.0.0.0/8"]),
    ],
)
def test_the_allow_list_names_exactly_what_it_names(url: str, allow: list[str]) -> None:
    with pytest.raises(CallbackRefused):
        check_callback(url, allow)


def settings(home: Path, **control) -> Settings:
    tokens = [{"token": "op", "tenant": "acme", "role": "operator"}]
    return Settings(
        home=home,
        ray={"dashboard_url": "http://127.0.0.1:9"},
        agentops={"approvals": "memory", "tokens": tokens},
        control=control,
    )


async def test_the_api_answers_422_naming_the_field_and_decides_nothing(tmp_path: Path) -> None:
    engine = AgentOps()
    app = build_app(Runtime(settings(tmp_path), engine=engine))
    body = {"entrypoint": "true", "callback_url": "http://169.254.169.254/latest/meta-data/"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://control") as http:
        res = await http.post("/jobs", json=body, headers={"Authorization": "Bearer op"})
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert error["type"] == "callback_refused" and error["loc"] == ["body", "callback_url"]
    assert "link-local" in error["msg"] and "control.webhook_allow" in error["msg"]
    assert not engine.decisions  # bad input: no decision taken, no approval opened, nothing ran


def test_the_allow_list_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AURAISON_CONTROL__WEBHOOK_ALLOW", '["127.0.0.1", "http://10.0.0.5:9000/hooks/"]')
    assert Settings(home=tmp_path).control.webhook_allow == ["127.0.0.1", "http://10.0.0.5:9000/hooks/"]
    monkeypatch.delenv("AURAISON_CONTROL__WEBHOOK_ALLOW")
    assert Settings(home=tmp_path).control.webhook_allow == []  # by default, nothing internal


async def test_delivery_checks_the_destination_again() -> None:
    """A hostname may resolve elsewhere by the time the job ends (DNS rebinding): with the
    allow-list, ``deliver`` checks again and never sends to an internal address."""
    receiver = Receiver()
    url = f"http://localhost:{receiver.port}/done"
    try:
        assert await webhooks.deliver(url, {"job": "j"}, "k", attempts=1, allow=[]) is False
        assert receiver.posts == []
        assert await webhooks.deliver(url, {"job": "j"}, "k", attempts=1, allow=["localhost"]) is True
        assert len(receiver.posts) == 1
    finally:
        receiver.stop()


async def test_an_mcp_submission_is_checked_as_well(tmp_path: Path) -> None:
    """The domain refuses an internal callback whichever face submits (here the MCP tool),
    before Ray is asked anything."""
    from fastmcp import Client

    from auraison.mcp_servers.cluster.server import build_server

    async with Client(build_server(Runtime(settings(tmp_path)))) as c:
        job = {"entrypoint": "true", "callback_url": "http://127.0.0.1:8080/hook"}
        res = await c.call_tool("job_submit", {"job": job}, raise_on_error=False)
        assert res.is_error and "loopback" in res.content[0].text
        listed = await c.call_tool("job_list", {})
        assert listed.structured_content["result"] == []  # nothing was recorded or submitted
