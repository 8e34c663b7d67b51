"""The one way a plane's MCP tool runs blocking domain work: off the event loop, with the
domain's refusals (``AuraisonError``: they say why and what to do) turned into tool errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from fastmcp.exceptions import ToolError

from auraison.errors import AuraisonError

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(fn, *args)
    except AuraisonError as exc:
        raise ToolError(str(exc)) from None


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
