"""What every plane's MCP server is made of: its tools are module-level functions whose first
parameter is the runtime (``plane_tool`` marks one, ``serve_tools`` binds the runtime and
registers them), so a tool can be called and tested as a plain function over a runtime with fake
adapters; and the one error translator between a plane's domain and those tools: the domain's
refusals (``AuraisonError``: they say why and what to do) become tool errors carrying that
message, for async domain calls (``guarded``) and blocking ones run off the event loop
(``in_thread``). The HTTP API translates the same family by ``status_code``."""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastmcp import FastMCP
from fastmcp.decorators import get_fastmcp_meta
from fastmcp.exceptions import ToolError
from fastmcp.tools import Tool, tool
from mcp.types import ToolAnnotations

from auraison.errors import AuraisonError

if TYPE_CHECKING:
    from auraison.runtime import Runtime

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def plane_tool(annotations: ToolAnnotations, *, name: str | None = None) -> Callable[[F], F]:
    """Mark a module-level ``[async] def name(rt: Runtime, …)`` as one of its plane's MCP tools
    (a blocking one runs in a worker thread). The function stays a plain function: tests call
    it directly."""
    return tool(name=name, annotations=annotations)


def serve_tools(mcp: FastMCP, rt: Runtime, tools: Iterable[Callable[..., Any]]) -> FastMCP:
    """Register a plane's tools on its server with the runtime bound as their first argument
    (the schema the agent sees is the rest of the signature)."""
    for fn in tools:
        marked = get_fastmcp_meta(fn)
        mcp.add_tool(Tool.from_function(_bound(fn, rt), name=marked.name, annotations=marked.annotations))
    return mcp


def _bound(fn: Callable[..., Any], rt: Runtime) -> Callable[..., Any]:
    """``fn`` with ``rt`` bound, under the rest of its signature with annotations resolved in
    ``fn``'s module (a ``functools.partial`` would leave pydantic to resolve them in its own)."""
    from auraison.runtime import Runtime

    if inspect.iscoroutinefunction(fn):

        async def bound(**kwargs: Any) -> T:
            return await fn(rt, **kwargs)
    else:  # a blocking tool: FastMCP runs it in a worker thread

        def bound(**kwargs: Any) -> T:  # type: ignore[misc]
            return fn(rt, **kwargs)

    hints = typing.get_type_hints(fn, localns={"Runtime": Runtime}, include_extras=True)
    sig = inspect.signature(fn)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()][1:]
    bound.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=hints.get("return", sig.return_annotation)
    )
    bound.__annotations__ = {k: v for k, v in hints.items() if k != next(iter(sig.parameters))}
    bound.__name__ = bound.__qualname__ = fn.__name__
    bound.__doc__, bound.__module__ = fn.__doc__, fn.__module__
    return bound


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
