"""The plane contract: a plane's MCP tools are module-level functions over the runtime
(``plane_tool`` + ``serve_tools``), so each can be called as a plain function, and the server
exposes exactly those, with the runtime never part of the schema an agent sees."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.decorators import get_fastmcp_meta

from auraison.identity import Identity, Role
from auraison.mcp_servers.billing import server as billing_server
from auraison.mcp_servers.billing.service import ADMIN, Billing
from auraison.mcp_servers.billing.store import Store
from auraison.runtime import Runtime
from auraison.settings import Settings

PLANES = ["billing", "cluster", "lake", "robot", "world"]


@pytest.mark.parametrize("plane", PLANES)
async def test_the_server_exposes_exactly_the_module_level_tools(plane: str, tmp_path: Path) -> None:
    """Every tool is a module-level function named in TOOLS, whose first parameter is the runtime."""
    module = importlib.import_module(f"auraison.mcp_servers.{plane}.server")
    async with Runtime(Settings(home=tmp_path)) as rt, Client(module.build_server(rt)) as client:
        listed = {t.name: t for t in await client.list_tools()}
    names = {fn: get_fastmcp_meta(fn).name or fn.__name__ for fn in module.TOOLS}
    assert set(listed) == set(names.values())
    for fn, name in names.items():
        assert getattr(module, fn.__name__) is fn
        assert next(iter(inspect.signature(fn).parameters)) == "rt"
        assert "rt" not in listed[name].input_schema.get("properties", {})
        assert listed[name].description == inspect.getdoc(fn)


async def test_a_tool_is_a_plain_function_over_the_runtime(tmp_path: Path) -> None:
    """A billing tool called directly acts as the runtime's identity on the runtime's store."""
    store = Store(f"sqlite:///{tmp_path / 'm.sqlite'}")
    store.migrate()
    billing = Billing(store)
    billing.tenant_create(ADMIN, "acme")
    settings = Settings(home=tmp_path, agentops={"tenant": "acme", "role": "owner"})
    try:
        rt = Runtime(settings, billing=billing)
        got = await billing_server.tenant_get(rt)
        assert (got["id"], got["users"]) == ("acme", 0)
        caller, tenant = billing_server.who(rt, None)
        assert (caller.tenant, caller.role, tenant) == ("acme", Role.owner, "acme")
        assert isinstance(caller, Identity) and not caller.is_human
    finally:
        store.close()
