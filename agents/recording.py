"""Record a run (model messages, every tool call, the tool schemas seen) and replay it.

*full* replay serves the model and the tools from the recording: deterministic and fast.
*live-tools* replay serves the model from the recording but runs the tools for real through
the gateway, so drift in the current servers (schemas, outcomes) fails loudly with a diff.
Arguments and results are redacted by the policy's rules when recorded; replays compare the
redacted forms, so a recording stays replayable.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import RunContext, ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_core import to_jsonable_python

from auraison.errors import AuraisonError, UserError

FORMAT_VERSION = 1
_NUM = re.compile(r"apr_[0-9a-f]+|-?\d+(?:\.\d+)?")  # approval ids and measured numbers
VOLATILE = {
    "goal_id",
    "estop_at",
    "rosbridge_url",
    "duration_s",
    "created_at",
    "expires_at",
    "id",
    "approval_id",
    "number_of_recoveries",  # measured, like time: a CPU stall can add a recovery
}


class RecordingError(UserError):
    """A recording file cannot be read."""


class ReplayMismatch(AuraisonError):
    """The replay diverged from the recording; the message holds a readable diff."""


class ToolCallRecord(BaseModel):
    name: str
    args: dict[str, Any]
    ok: bool
    result: Any
    duration_ms: float
    deferred: dict[str, Any] | None = None  # set when the call was deferred for approval


class Recording(BaseModel):
    version: int = FORMAT_VERSION
    agent: str
    prompt: str
    model: str
    tenant: str
    wall_time_s: float
    tool_schemas: dict[str, dict[str, Any]]
    tool_calls: list[ToolCallRecord]
    messages: list[dict[str, Any]]

    def model_messages(self) -> list[ModelMessage]:
        return ModelMessagesTypeAdapter.validate_python(self.messages)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> Recording:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise RecordingError(
                f"{path}: not a JSON recording ({exc})", "re-record it with --record"
            ) from None
        try:
            rec = cls.model_validate(data)
            rec.model_messages()
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise RecordingError(
                f"{path}: not a valid recording: {loc}: {err['msg']}", "re-record it"
            ) from None
        if rec.version != FORMAT_VERSION:
            raise RecordingError(
                f"{path}: recording format {rec.version}, this Auraison reads {FORMAT_VERSION}"
            )
        return rec


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def jsonable(value: Any) -> Any:
    """Tool results as JSON: images and other binaries become a short description."""
    if hasattr(value, "media_type") and hasattr(value, "data"):
        return {"binary": value.media_type, "bytes": len(value.data)}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return to_jsonable_python(value, fallback=str)


@dataclass
class RecordingToolset(WrapperToolset[Any]):
    """Wraps the real toolset; notes schemas and every call as it happens."""

    redact: Any = None
    image_dir: Path | None = None  # when set, images returned by tools are saved here
    on_call: Any = None  # called with (name, args, ok, result) as each call completes
    calls: list[ToolCallRecord] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await super().get_tools(ctx)
        for name, tool in tools.items():
            self.schemas[name] = tool.tool_def.parameters_json_schema
        return tools

    def _note(self, record: ToolCallRecord) -> None:
        self.calls.append(record)
        if self.on_call is not None:
            self.on_call(record.name, record.args, record.ok, record.result)

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        t0 = time.perf_counter()
        clean = self.redact or (lambda v: v)
        try:
            result = await super().call_tool(name, tool_args, ctx, tool)
        except Exception as exc:
            from pydantic_ai.exceptions import ApprovalRequired

            deferred = exc.metadata if isinstance(exc, ApprovalRequired) else None
            text = (deferred or {}).get("reason") or first_line(exc)
            self._note(
                ToolCallRecord(
                    name=name,
                    args=clean(dict(tool_args)),
                    ok=False,
                    result=clean(text),
                    duration_ms=_ms(t0),
                    deferred=deferred,
                )
            )
            raise
        summary = clean(jsonable(result))
        if self.image_dir is not None:
            summary = self._save_images(name, result, summary)
        args = clean(dict(tool_args))
        self._note(ToolCallRecord(name=name, args=args, ok=True, result=summary, duration_ms=_ms(t0)))
        return result

    def _save_images(self, name: str, result: Any, summary: Any) -> Any:
        """Write the images in ``result`` to ``image_dir``; the summary then names the files."""
        items = result if isinstance(result, list) else [result]
        paths = []
        for item in items:
            if (
                hasattr(item, "media_type")
                and hasattr(item, "data")
                and str(item.media_type).startswith("image/")
            ):
                assert self.image_dir is not None  # only called when it is set
                self.image_dir.mkdir(parents=True, exist_ok=True)
                ext = str(item.media_type).split("/")[1]
                path = self.image_dir / f"{len(self.calls) + 1:03d}-{name}.{ext}"
                path.write_bytes(item.data)
                paths.append(str(path))
        return {"result": summary, "images": paths} if paths else summary


@dataclass
class DeferringToolset(WrapperToolset[Any]):
    """The gateway enforces approvals and refuses a call that needs a human with the decision as
    JSON in the tool error; this turns that decision into a Pydantic AI deferral
    (``ApprovalRequired`` → ``DeferredToolRequests``) by the same path as the in-process capability
    (``approval_deferral``), and when the run resumes with the call approved, records the human's
    approval so the gateway lets exactly that call through once."""

    approvals: Any = None  # the engine's ApprovalStore
    tenant: str = "default"

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        from pydantic_ai import ModelRetry

        from auraison.agentops.approvals import approve_deferred
        from auraison.agentops.capability import approval_deferral
        from auraison.agentops.decision import ToolCall

        if ctx.tool_call_approved and self.approvals is not None:
            key = ToolCall(tool=name, args=dict(tool_args)).args_hash()
            await approve_deferred(self.approvals, self.tenant, key, ctx.tool_call_metadata)
        try:
            return await super().call_tool(name, tool_args, ctx, tool)
        except ModelRetry as exc:
            if (deferral := approval_deferral(exc, approved=ctx.tool_call_approved)) is None:
                raise
            raise deferral from None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


# ------------------------------------------------------------------------------ replay
def replay_model(rec: Recording) -> FunctionModel:
    """Serves the recorded model responses in order (and fails if the run asks for more)."""
    responses = [m for m in rec.model_messages() if isinstance(m, ModelResponse)]
    state = {"i": 0}

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        i = state["i"]
        if i >= len(responses):
            raise ReplayMismatch(
                f"the run asked the model {i + 1} times; the recording has {len(responses)} answers"
            )
        state["i"] += 1
        return responses[i]

    return FunctionModel(fn, model_name=f"replay:{rec.model}")


@dataclass
class ReplayToolset(AbstractToolset[Any]):
    """Full mode: tools answer from the recording; a different call fails with a diff."""

    rec: Recording
    position: int = 0

    @property
    def id(self) -> str | None:
        return "replay"

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        from pydantic_core import SchemaValidator, core_schema

        any_args = SchemaValidator(core_schema.dict_schema())
        return {
            name: ToolsetTool(
                toolset=self,
                tool_def=ToolDefinition(name=name, parameters_json_schema=schema),
                max_retries=1,
                args_validator=any_args,
            )
            for name, schema in self.rec.tool_schemas.items()
        }

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        if self.position >= len(self.rec.tool_calls):
            raise ReplayMismatch(
                f"unexpected extra tool call {name}({json.dumps(tool_args)}): the recording has "
                f"{len(self.rec.tool_calls)} calls"
            )
        want = self.rec.tool_calls[self.position]
        self.position += 1
        got = {"name": name, "args": tool_args}
        expected = {"name": want.name, "args": want.args}
        if got != expected:
            raise ReplayMismatch(
                f"tool call #{self.position} differs from the recording:\n{diff(expected, got)}"
            )
        if not want.ok:
            from pydantic_ai import ModelRetry
            from pydantic_ai.exceptions import ApprovalRequired

            if want.deferred is not None and not ctx.tool_call_approved:
                raise ApprovalRequired(metadata=want.deferred)
            raise ModelRetry(str(want.result))
        return want.result


def diff(expected: Any, got: Any, label: str = "recording") -> str:
    a = json.dumps(expected, indent=1, sort_keys=True, default=str).splitlines()
    b = json.dumps(got, indent=1, sort_keys=True, default=str).splitlines()
    return "\n".join(difflib.unified_diff(a, b, fromfile=label, tofile="replay", lineterm=""))


def schema_drift(rec: Recording, current: dict[str, dict[str, Any]]) -> str | None:
    """Differences between the pinned schemas of the tools the recording used and today's."""
    used = sorted({c.name for c in rec.tool_calls})
    parts = []
    for name in used:
        if name not in current:
            parts.append(f"tool {name}: no longer offered")
        elif current[name] != rec.tool_schemas.get(name):
            parts.append(
                f"tool {name}: input schema changed\n{diff(rec.tool_schemas.get(name), current[name])}"
            )
    return "\n".join(parts) or None


def close_enough(recorded: Any, live: Any, key: str = "") -> bool:
    """Live results may differ in timing noise, not in substance."""
    if key in VOLATILE:
        return True
    if isinstance(recorded, dict) and isinstance(live, dict):
        return recorded.keys() == live.keys() and all(close_enough(recorded[k], live[k], k) for k in recorded)
    if isinstance(recorded, list) and isinstance(live, list):
        return len(recorded) == len(live) and all(
            close_enough(a, b, key) for a, b in zip(recorded, live, strict=True)
        )
    if isinstance(recorded, int | float) and isinstance(live, int | float) and not isinstance(recorded, bool):
        return math.isclose(recorded, live, rel_tol=0.25, abs_tol=0.5)
    if isinstance(recorded, str) and isinstance(live, str):  # "succeeded: 17.2 m in 9.0 s": words must
        return _NUM.sub("#", recorded) == _NUM.sub("#", live)  # match, measured numbers may wobble
    return recorded == live


@dataclass
class ComparingToolset(WrapperToolset[Any]):
    """Live-tools mode: run the real tool, then compare with what was recorded."""

    rec: Recording | None = None
    redact: Any = None
    position: int = 0

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        assert self.rec is not None
        want = self.rec.tool_calls[self.position] if self.position < len(self.rec.tool_calls) else None
        self.position += 1
        clean = self.redact or (lambda v: v)
        if want is None or want.name != name or want.args != clean(dict(tool_args)):
            expected = {"name": want.name, "args": want.args} if want else None
            raise ReplayMismatch(
                f"tool call #{self.position} differs:\n{diff(expected, {'name': name, 'args': tool_args})}"
            )
        try:
            result = await super().call_tool(name, tool_args, ctx, tool)
            ok, got = True, clean(jsonable(result))
        except Exception as exc:
            ok, got, result = False, clean(first_line(exc)), exc
        if ok != want.ok or not close_enough(want.result, got):
            raise ReplayMismatch(
                f"live result of {name} drifted from the recording:\n"
                f"{diff({'ok': want.ok, 'result': want.result}, {'ok': ok, 'result': got})}"
            )
        if not ok:
            raise result  # type: ignore[misc]
        return result
