"""The console's end-to-end fixtures: a real simulator, a real control API (uvicorn on a free
port, its own event loop so agents can run inside the server's runtime, as the control plane
runs them), the management plane's API keys, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from auraison.identity import Role
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.cluster.console import EXPORT
from auraison.mcp_servers.cluster.http_api import build_app
from auraison.runtime import Runtime
from auraison.settings import Settings
from tests.simthread import SimThread

T = TypeVar("T")
CHROMIUM = os.environ.get("AURAISON_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[3]
SHOTS = Path(os.environ.get("AURAISON_CONSOLE_SHOTS", REPO / "out" / "console-screenshots"))


@dataclass
class Console:
    url: str
    sim: SimThread
    rt: Runtime
    loop: asyncio.AbstractEventLoop
    keys: dict[str, str]
    home: Path

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run ``coro`` on the server's own loop (inside the control plane's process and runtime)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


def _need_browser_and_build() -> None:
    """Missing chromium or a missing build is a failure, never a skip: CI installs both."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no chromium at {CHROMIUM}: apt-get install -y chromium (never a downloaded browser)")
    if not (EXPORT / "index.html").is_file():
        pytest.fail(f"the console is not built ({EXPORT}): run `make console`")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    _need_browser_and_build()
    with SimThread("maze_small", speed=4.0) as sim:
        settings = Settings(
            home=tmp_path / "home",
            robot={"rosbridge_url": sim.url},
            agentops={"approvals": "sqlite", "tenant": "acme", "role": "agent"},
        )
        billing = Billing.from_settings(settings)
        billing.tenant_create(ADMIN, "acme", plan="pro")
        billing.tenant_create(ADMIN, "globex", plan="pro")
        keys = {
            "owner": billing.apikey_issue(ADMIN, "acme", "owner@acme", Role.owner).api_key,
            "operator": billing.apikey_issue(ADMIN, "acme", "ops@acme", Role.operator).api_key,
            "agent": billing.apikey_issue(ADMIN, "acme", "bot@acme", Role.agent).api_key,
            "globex": billing.apikey_issue(ADMIN, "globex", "owner@globex", Role.owner).api_key,
        }
        billing.store.close()
        rt = Runtime(settings)
        app = build_app(rt)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=3)
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)  # uvicorn's own readiness flag
            if not thread.is_alive():
                raise RuntimeError("the control API did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Console(f"http://127.0.0.1:{port}", sim, rt, loop, keys, settings.home)
        finally:
            server.should_exit = True
            thread.join(20)
            loop.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    _need_browser_and_build()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> Path:
    """Keep a screenshot of the page as a test artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
