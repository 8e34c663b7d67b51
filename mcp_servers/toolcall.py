"""The one way a plane's MCP tool runs blocking domain work: off the event loop, with the
domain's refusals (``AuraisonError``: they say why and what to do) turned into tool errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastmcp.exceptions import ToolError

from auraison.errors import AuraisonError

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(fn, *args)
    except AuraisonError as exc:
        raise ToolError(str(exc)) from None
