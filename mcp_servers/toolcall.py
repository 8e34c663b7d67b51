"""The one error translator between a plane's domain and its MCP tools: the domain's refusals
(``AuraisonError``: they say why and what to do) become tool errors carrying that message, for
async domain calls (``guarded``) and blocking ones run off the event loop (``in_thread``). The
HTTP API translates the same family by ``status_code``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from fastmcp.exceptions import ToolError

from auraison.errors import AuraisonError

T = TypeVar("T")


async def guarded(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except AuraisonError as exc:
        raise ToolError(str(exc)) from None


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await guarded(asyncio.to_thread(fn, *args))


class Lazy(Generic[T]):
    """A plane's domain object, built on first use: a server, gateway or API can start while a
    backing service is down, and the first call that needs it reports the outage."""

    def __init__(self, factory: Callable[[], T], value: T | None = None) -> None:
        self._factory = factory
        self.value = value

    def __call__(self) -> T:
        if self.value is None:
            self.value = self._factory()
        return self.value
