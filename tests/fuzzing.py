"""Fuzzing every MCP tool from its JSON schema (target R2): the strategies, and a harness over
the whole gateway that calls each tool and judges each answer.

The strategies turn a tool's ``inputSchema`` into hypothesis strategies: ``value_for`` draws
schema-valid values (to get past validation and into plane code), ``args_for`` mixes those with
the malformed calls an agent can send — wrong types, NaN/inf, huge strings, extra keys,
missing required fields — so both the validation layer and the code behind it are exercised.

The harness (``GatewayFuzz``) builds the real gateway (``Runtime(settings).gateway()``) with every plane,
keeps one in-memory MCP session open on a loop of its own (hypothesis runs synchronously), and
watches each call from *inside* the AgentOps middleware, which is the only place that can tell
a refusal the code meant (an ``AuraisonError``, a ``ToolError`` a plane raised on purpose, a
schema validation error) from a crash FastMCP merely wrapped (``ToolError(...) from exc``).
The text the client sees is checked too, against how FastMCP 4.2.3 renders each kind.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from fastmcp import Client
from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from auraison.errors import AuraisonError
from tests.simthread import SimThread

T = TypeVar("T")
Schema = dict[str, Any]

# ------------------------------------------------------------------------------------ strategies
NON_FINITE = [float("nan"), float("inf"), float("-inf"), -1e300, 1e300]
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(NON_FINITE),
)
"""Values of any JSON type (and the non-finite floats JSON cannot carry): wrong for most fields."""

huge_text = st.sampled_from([10_000, 100_000, 1_000_000]).flatmap(
    lambda n: st.sampled_from(["x", "é", "'; drop table x; --", "\x00", "../"]).map(lambda s: (s * n)[:n])
)
"""Strings far past any field's limit (1 MB at most: what an MCP message may plausibly carry)."""


SQL = st.one_of(
    st.sampled_from(
        [
            "select 1",
            "select * from events",
            "select count(*) from spans",
            "with t as (select 1 as a) select a from t",
            "describe events",
            "show tables",
            "summarize spans",
            "select * from read_csv('/etc/passwd')",
            "select * from read_parquet('../../*.parquet')",
            "select 1; drop table events",
            "select current_setting('threads')",
            "select * from documents order by 1 desc",
            "select sum(1) over () from runs",
            "select 1/0",
            "select repeat('x', 100000000)",
        ]
    ),
    st.builds(
        "select {} from {} limit {}".format,
        st.sampled_from(["*", "count(*)", "1", "max(ts)", "'\\x00'"]),
        st.sampled_from(["events", "spans", "documents", "runs", "metrics", "params", "datasets", "nope"]),
        st.integers(-5, 10**12),
    ),
)
FIELD_HINTS: dict[str, st.SearchStrategy[Any]] = {
    # Values a schema alone rarely draws but the code behind the field cares about: SQL that gets
    # past the policy's SELECT-only pattern, map coordinates inside the robot's geofence, ROS
    # topics and message types that the policy singles out.
    "sql": SQL,
    "x": st.floats(-1, 21.5),
    "y": st.floats(-1, 21.5),
    "topic": st.sampled_from(
        ["/cmd_vel", "/odom", "/scan", "/goal_pose", "/map", "/tf", "/CMD_VEL", "cmd_vel"]
    ),
    "msg_type": st.sampled_from(
        [
            "geometry_msgs/msg/Twist",
            "geometry_msgs/msg/TwistStamped",
            "nav_msgs/msg/Odometry",
            "sensor_msgs/msg/LaserScan",
            "std_msgs/msg/String",
            "geometry_msgs/msg/PoseStamped",
        ]
    ),
    "service_name": st.sampled_from(["/rosapi/topics", "/navigate_to_pose/_action/send_goal", "/set_param"]),
}


def hinted(name: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    hint = FIELD_HINTS.get(name)
    return strategy if hint is None else st.one_of(strategy, hint)


def resolve(schema: Schema, root: Schema) -> Schema:
    """Follow a local ``$ref`` (pydantic puts nested models under ``$defs``)."""
    seen = 0
    while "$ref" in schema and seen < 20:
        ref = schema["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part, {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def value_for(schema: Schema, root: Schema | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for schema-valid values: numbers within their bounds, strings by pattern and
    length, enums, nested objects and arrays, nulls where allowed. Unbounded numbers stay in a
    range a tool could act on (±1000); an empty schema accepts anything."""
    root = schema if root is None else root
    schema = resolve(schema, root)
    if depth > 6:
        return st.none()
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([value_for(s, root, depth + 1) for s in schema[key]])
    if "allOf" in schema:
        merged: Schema = {}
        for s in schema["allOf"]:
            merged.update(resolve(s, root))
        return value_for(merged, root, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    t = schema.get("type")
    if isinstance(t, list):
        return st.one_of([value_for({**schema, "type": x}, root, depth + 1) for x in t])
    if t == "number":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -1e3))
        hi = schema.get("maximum", schema.get("exclusiveMaximum", 1e3))
        return st.floats(
            lo,
            hi,
            allow_nan=False,
            allow_infinity=False,
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
        )
    if t == "integer":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -1001) + 1)
        hi = schema.get("maximum", schema.get("exclusiveMaximum", 1001) - 1)
        return st.integers(lo, hi)
    if t == "string":
        return string_for(schema)
    if t == "null":
        return st.none()
    if t == "boolean":
        return st.booleans()
    if t == "array":
        return array_for(schema, root, depth)
    if t == "object" or "properties" in schema:
        return object_for(schema, root, depth)
    return junk


def string_for(schema: Schema) -> st.SearchStrategy[str]:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 40)
    if "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True)
        pool = POOLS.get(schema["pattern"])
        if pool is not None:
            base = st.one_of(base, pool.strategy())
        return base.filter(lambda s: lo <= len(s) <= schema.get("maxLength", 10**9))
    return st.text(min_size=lo, max_size=min(hi, lo + 40))


def array_for(schema: Schema, root: Schema, depth: int) -> st.SearchStrategy[list[Any]]:
    lo, hi = schema.get("minItems", 0), schema.get("maxItems", None)
    if "prefixItems" in schema:
        return st.tuples(*[value_for(s, root, depth + 1) for s in schema["prefixItems"]]).map(list)
    items = value_for(schema.get("items", {}), root, depth + 1)
    return st.lists(items, min_size=lo, max_size=min(hi if hi is not None else lo + 4, lo + 4))


def object_for(schema: Schema, root: Schema, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {k: hinted(k, value_for(v, root, depth + 1)) for k, v in props.items() if k != "ctx"}
    base = st.fixed_dictionaries(
        {k: s for k, s in fields.items() if k in required},
        optional={k: s for k, s in fields.items() if k not in required},
    )
    extra = schema.get("additionalProperties")
    if not props and isinstance(extra, dict):  # a mapping: name -> value
        names = st.text(min_size=1, max_size=10)
        return st.dictionaries(names, value_for(extra, root, depth + 1), max_size=4)
    if not props and extra is True:
        return st.dictionaries(st.text(max_size=10), junk, max_size=4)
    return base


class Pool:
    """Identifiers the tools have handed out (run ids, agent ids, approval ids, key ids …),
    offered back to the fields whose pattern they match, so a fuzzed call can reach an object
    that exists instead of stopping at "not found" every time."""

    def __init__(self, pattern: str, size: int = 64) -> None:
        self.regex = re.compile(pattern)
        self.items: list[str] = []
        self.size = size

    def offer(self, value: str) -> None:
        if value not in self.items and self.regex.fullmatch(value):
            self.items.append(value)
            del self.items[: -self.size]

    def strategy(self) -> st.SearchStrategy[str]:
        # Both draws always happen, whether the pool is empty or not: the choices Hypothesis
        # records must not depend on what earlier calls handed out (else it reports the
        # strategy as flaky when the pool fills mid-run).
        fallback = st.from_regex(self.regex.pattern, fullmatch=True)
        return st.tuples(st.integers(0, 2**16), fallback).map(
            lambda t: self.items[t[0] % len(self.items)] if self.items else t[1]
        )


POOLS: dict[str, Pool] = {}
"""By pattern; ``GatewayFuzz`` fills it from every answer (patterns of the tools' id fields)."""

ID_KEY = re.compile(r"(^|_)(id|ids)$|^place$")


def harvest(value: Any) -> None:
    """Offer every string in an answer to the pools (cheap: a few regexes per string)."""
    if isinstance(value, str):
        if len(value) <= 120:
            for pool in POOLS.values():
                pool.offer(value)
    elif isinstance(value, dict):
        for v in value.values():
            harvest(v)
    elif isinstance(value, list):
        for v in value[:50]:
            harvest(v)


def register_pools(schemas: dict[str, Schema]) -> None:
    """A pool for each pattern of a field named like an identifier (``run_id``, ``agent_id`` …)."""

    def walk(schema: Any, name: str = "") -> None:
        if isinstance(schema, dict):
            if "pattern" in schema and ID_KEY.search(name):
                POOLS.setdefault(schema["pattern"], Pool(schema["pattern"]))
            for k, v in schema.items():
                walk(v, k if k not in ("anyOf", "items", "properties") else name)
                if k == "properties" and isinstance(v, dict):
                    for pk, pv in v.items():
                        walk(pv, pk)
        elif isinstance(schema, list):
            for v in schema:
                walk(v, name)

    for s in schemas.values():
        walk(s)


MUTATIONS = ("wrong_type", "non_finite", "huge_string", "extra_key", "missing_required", "junk_dict")


def args_for(schema: Schema) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(how the call was made, its arguments): schema-valid arguments half of the time, else one
    of ``MUTATIONS`` applied to valid ones (or, for ``junk_dict``, nothing valid at all)."""
    props = {k: v for k, v in schema.get("properties", {}).items() if k != "ctx"}
    required = [k for k in schema.get("required", []) if k in props]
    valid = object_for(schema, schema, 0)
    names = sorted(props)

    def mutate(draw: Callable[[st.SearchStrategy[Any]], Any]) -> tuple[str, dict[str, Any]]:
        args = dict(draw(valid))
        kinds = [m for m in MUTATIONS if (m != "missing_required" or required)]
        if not names:
            kinds = ["extra_key", "junk_dict"]
        kind = draw(st.sampled_from(kinds))
        if kind == "wrong_type":
            args[draw(st.sampled_from(names))] = draw(junk)
        elif kind == "non_finite":
            args[draw(st.sampled_from(names))] = draw(st.sampled_from(NON_FINITE))
        elif kind == "huge_string":
            args[draw(st.sampled_from(names))] = draw(huge_text)
        elif kind == "extra_key":
            key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in props))
            args[key] = draw(junk)
        elif kind == "missing_required":
            args.pop(draw(st.sampled_from(required)), None)
        else:
            args = draw(st.dictionaries(st.sampled_from([*names, "x", "__proto__", ""]), junk, max_size=4))
        return kind, args

    return st.one_of(valid.map(lambda a: ("valid", a)), st.composite(lambda draw: mutate(draw))())


# --------------------------------------------------------------------------------- the harness
class LoopThread:
    """An event loop in a thread of its own: the MCP session lives here across hypothesis
    examples (which run synchronously in the caller's thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Hung(Exception):
    """A call never answered and the loop serving the gateway is stuck: the run cannot go on."""


class Observer(Middleware):
    """Added after AgentOps, so it runs inside it: sees what the planes raised or returned for
    the calls AgentOps let through (nothing at all for the calls it refused)."""

    def __init__(self) -> None:
        self.last: tuple[str, Any] | None = None

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        try:
            result = await call_next(context)
        except BaseException as exc:
            self.last = ("raised", exc)
            raise
        self.last = ("returned", result)
        return result


VALIDATION_TEXT = re.compile(r"^\d+ validation errors? for ")
FORBIDDEN = ("Traceback (most recent call last)", "Internal error", "Error calling tool")


@dataclass
class Outcome:
    tool: str
    mode: str
    kind: str  # allowed | decision:<kind> | validation | domain | upstream_error | upstream_internal
    #            | timeout | internal
    text: str = ""
    problem: str | None = None  # why this outcome breaks R2 (None: fine)


def decision_of(text: str) -> dict[str, Any] | None:
    """The ``{"decision": …}`` line ``AgentOpsError.to_text`` puts second, if there is one."""
    lines = text.split("\n")  # not splitlines(): a reason may hold \x1c-\x1e or \x85 from the args
    if len(lines) < 2:
        return None
    try:
        payload = json.loads(lines[1])
    except ValueError:
        return None
    return payload.get("decision") if isinstance(payload, dict) else None


def judge(tool: str, mode: str, is_error: bool, text: str, seen: tuple[str, Any] | None) -> Outcome:
    """Classify one answer. ``seen`` is what the Observer saw inside AgentOps."""
    if not is_error:
        return Outcome(tool, mode, "allowed", text[:200])
    if "Traceback (most recent call last)" in text:
        return Outcome(tool, mode, "internal", text[:500], "a traceback reached the client")
    if seen is None:  # AgentOps refused before any plane ran: the answer must be a decision
        d = decision_of(text)
        if d is None or "kind" not in d:
            return Outcome(tool, mode, "internal", text[:500], "refused without a decision payload")
        return Outcome(tool, mode, f"decision:{d['kind']}", text[:1000])
    how, what = seen
    if how == "returned":
        # A proxied server's own error result (ros-mcp 3.1.2, third-party, pinned), passed on as
        # it is. Its crashes (its FastMCP 2 says "Error calling tool …") are counted apart: they
        # are not the gateway's, and no change here can fix them — a policy constraint can
        # keep a tool's arguments away from them.
        bad = next((f for f in FORBIDDEN if f in text), None)
        return Outcome(tool, mode, "upstream_error" if bad is None else "upstream_internal", text[:500])
    exc = what
    if isinstance(exc, FastMCPValidationError) and isinstance(exc.__cause__, PydanticValidationError):
        if not VALIDATION_TEXT.match(text):
            return Outcome(tool, mode, "internal", text[:500], "validation error rendered unexpectedly")
        return Outcome(tool, mode, "validation", text[:200])
    if isinstance(exc, ToolError):
        cause = exc.__cause__
        if cause is None or isinstance(cause, AuraisonError):
            if cause is None and text.startswith("Error calling tool"):
                return Outcome(tool, mode, "internal", text[:500], "a masked error without a cause")
            return Outcome(tool, mode, "domain", text[:200])
        crash = f"{type(cause).__module__}.{type(cause).__name__}: {cause}"
        return Outcome(tool, mode, "internal", text[:500], crash[:500])
    return Outcome(tool, mode, "internal", text[:500], f"{type(exc).__name__}: {exc}"[:500])


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): an unreachable Ray dashboard."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MOTION_PREFIXES = ("robot_", "ros_")

UNSAFE: dict[str, tuple[Callable[[dict[str, Any]], bool], str]] = {
    "cluster_start": (
        lambda a: a.get("cluster", "local") == "local",
        "starts a real Ray head (`ray start --head`) on this machine, outside the test's sandbox",
    ),
    "cluster_stop": (
        lambda a: a.get("cluster", "local") == "local",
        "stops the machine's local Ray head, which other processes may be using",
    ),
}
"""Calls left out, with why: only these two, and only for the managed local cluster (any other
name is fuzzed and must be refused as unmanaged)."""


WAITS = {"duration": 2.0, "durations": 0.3, "timeout": 2.0, "ping_timeout": 1.0, "port_timeout": 1.0}
"""ros-mcp waits as long as it is asked to (``subscribe_for_duration``'s ``duration``, a
service ``timeout`` …): nothing bounds it, not its schema, not the default policy (reported).
Schema-valid draws for ros_* keep such waits short so 500 cases per tool fit in a run; the
malformed draws (wrong types, NaN/inf, …) are sent as drawn."""


def clamp_waits(args: dict[str, Any]) -> dict[str, Any]:
    def short(key: str, v: Any) -> Any:
        if isinstance(v, float | int) and not isinstance(v, bool) and v > WAITS[key]:
            return WAITS[key]
        if isinstance(v, list):
            return [short(key, x) for x in v][:5]
        return v

    return {k: short(k, v) if k in WAITS else v for k, v in args.items()}


@dataclass
class Books:
    """What AgentOps should have charged: the policy's cost of every call it let run to an
    answer (a refused or failed call releases its reservation)."""

    expected: Decimal = Decimal(0)
    calls: int = 0


@dataclass
class Report:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    problems: list[Outcome] = field(default_factory=list)
    upstream: list[Outcome] = field(default_factory=list)
    skipped_unsafe: Counter[str] = field(default_factory=Counter)
    motion_checked: int = 0
    motion_unchecked: int = 0
    motion_violations: list[str] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        self.outcomes[o.tool][o.kind] += 1
        if o.problem is not None:
            self.problems.append(o)
        if o.kind == "upstream_internal" and sum(u.tool == o.tool for u in self.upstream) < 3:
            self.upstream.append(o)


class GatewayFuzz:
    """The whole gateway (``Runtime.gateway`` with every plane that exists here), one in-memory
    session, the simulator behind the robot, the quota in the embedded management store."""

    def __init__(
        self,
        home: Path,
        sim: SimThread,
        role: str,
        tenant: str,
        ros_cache: Path | None = None,
        call_timeout_s: float = 60.0,
        quota: int = 10_000_000,
    ) -> None:
        from auraison.mcp_servers.billing.service import ADMIN, Billing
        from auraison.settings import Settings

        self.sim, self.role, self.tenant = sim, role, tenant
        self.call_timeout_s = call_timeout_s
        (home / "cache").mkdir(parents=True, exist_ok=True)
        if ros_cache is not None:  # the ros-mcp venv, built once per machine: `ros_*` is served
            from auraison.rosmcp import venv_dir

            venv_dir(home / "cache").symlink_to(venv_dir(ros_cache), target_is_directory=True)
        self.settings = Settings(
            home=home,
            robot={"rosbridge_url": sim.url},
            ray={"dashboard_url": f"http://127.0.0.1:{closed_port()}"},
            agentops={"approvals": "memory", "quotas": "management", "tenant": tenant, "role": role},
            proxies={} if ros_cache is not None else {"ros": {"enabled": False}},
        )
        self.billing = Billing.from_settings(self.settings)
        self.billing.tenant_create(ADMIN, tenant, plan="pro")
        self.billing.quota_set(ADMIN, tenant, "tool_calls", quota)
        self.quota = quota
        from auraison.runtime import Runtime

        self.runtime = Runtime(self.settings)
        self.gateway = self.runtime.gateway()
        self.engine = self.runtime.engine
        self.observer = Observer()
        self.gateway.add_middleware(self.observer)
        self.books = Books()
        self.report = Report()
        self.loop = LoopThread()
        self.client = Client(self.gateway, timeout=call_timeout_s)
        self.loop.run(self.client.__aenter__())
        self.schemas: dict[str, Schema] = {
            t.name: t.input_schema for t in self.loop.run(self.client.list_tools())
        }
        register_pools(self.schemas)
        self._strategies: dict[str, st.SearchStrategy[tuple[str, dict[str, Any]]]] = {}

    def strategy(self, tool: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        if tool not in self._strategies:
            self._strategies[tool] = args_for(self.schemas[tool])
        return self._strategies[tool]

    def motion(self) -> tuple[float, float, float]:
        sim = self.sim
        return sim.call(lambda: (sim.sim.robot.distance, sim.sim.robot.v, sim.sim.robot.w))

    def call(self, tool: str, mode: str, args: dict[str, Any], _retried: bool = False) -> Outcome:
        """One fuzzed call, judged; a refused robot/ros call must not have moved the robot."""
        unsafe = UNSAFE.get(tool)
        if unsafe is not None and unsafe[0](args):
            self.report.skipped_unsafe[tool] += 1
            return Outcome(tool, mode, "skipped_unsafe")
        if tool.startswith("ros_") and mode == "valid":
            args = clamp_waits(args)
        watch = tool.startswith(MOTION_PREFIXES)
        before = self.motion() if watch else None
        self.observer.last = None
        try:  # the client's own timeout lives on the same loop: this one catches a blocked loop
            outcome = self.loop.run(self._call(tool, mode, args), timeout=self.call_timeout_s + 30)
        except FutureTimeout:
            o = Outcome(tool, mode, "internal", "", f"blocked the gateway's event loop: {args!r}"[:500])
            self.report.add(o)
            raise Hung(o.problem) from None
        if self.observer.last is not None and self.observer.last[0] == "returned":
            self.books.expected += self._cost(tool)
            self.books.calls += 1
        if watch and before is not None and outcome.kind not in ("allowed", "upstream_error", "timeout"):
            after = self.motion()
            if before[1:] != (0.0, 0.0):
                self.report.motion_unchecked += 1  # moving already (an earlier allowed call)
            else:
                self.report.motion_checked += 1
                if after != (before[0], 0.0, 0.0):
                    self.report.motion_violations.append(f"{tool}{args!r}: {before} -> {after}")
        if tool == "billing_quota_set" and self.observer.last is not None:
            # An admin may set any quota, the fuzz tenant's own included: put its limit back, or
            # every later call would be refused as over quota (and the books judged on a limit
            # the fuzz drew). Other tenants' and dimensions' limits stay as the fuzz set them.
            from auraison.mcp_servers.billing.service import ADMIN

            self.billing.quota_set(ADMIN, self.tenant, "tool_calls", self.quota)
        self.report.add(outcome)
        if outcome.kind == "decision:shed" and not _retried:
            # Shed under the policy's rate limit (the fuzz calls faster than any agent): counted,
            # then sent again after the retry-after it names, as an agent would — so the calls
            # reach the plane instead of mostly measuring the limiter.
            d = decision_of(outcome.text) or {}
            time.sleep(min(float(d.get("retry_after_s") or 0.05), 2.0))
            return self.call(tool, mode, args, _retried=True)
        return outcome

    async def _call(self, tool: str, mode: str, args: dict[str, Any]) -> Outcome:
        try:
            res = await self.client.call_tool(tool, args, raise_on_error=False)
        except TimeoutError:
            return Outcome(tool, mode, "timeout", f"no answer in {self.call_timeout_s:g}s")
        except Exception as exc:  # a protocol error instead of a tool result: never acceptable
            return Outcome(tool, mode, "internal", repr(exc)[:500], f"client raised {type(exc).__name__}")
        text = "\n".join(getattr(c, "text", "") or "" for c in res.content)
        if not res.is_error and res.structured_content is not None:
            harvest(res.structured_content)
        elif res.is_error:
            harvest([m.group(0) for m in re.finditer(r"apr_[0-9a-f]+", text)])
        return judge(tool, mode, res.is_error, text, self.observer.last)

    def _cost(self, tool: str) -> Decimal:
        return Decimal(str(self.engine.policy.cost_for(self.tenant, self.role, tool)))

    def close(self) -> None:
        """Close the session, then the gateway's planes: the quota grants settle here."""
        try:
            self.loop.run(self.client.__aexit__(None, None, None), timeout=60)
            self.loop.run(self.runtime.aclose(), timeout=60)
        finally:
            self.loop.close()

    def books_check(self) -> list[str]:
        """After ``close``: the tenant was charged exactly what AgentOps let run, nothing is left
        reserved by the gateway, and the quota was never negative nor over its limit. Agents the
        fuzz started (``cluster_agent_start``) hold grants of their own: counted as theirs."""
        from auraison.mcp_servers.billing.service import ADMIN

        line = next(q for q in self.billing.quota_get(ADMIN, self.tenant) if q.dimension == "tool_calls")
        leases = [
            x
            for state in ("active", "committed", "released")
            for x in self.billing.reservations_list(ADMIN, self.tenant, state)
            if x.dimension == "tool_calls"
        ]
        gateway = [x for x in leases if x.agent is None]
        agents = [x for x in leases if x.agent is not None]
        problems = []
        charged = sum((x.actual or Decimal(0) for x in gateway if x.state == "committed"), Decimal(0))
        if charged != self.books.expected:
            problems.append(f"gateway charged {charged}, AgentOps ran calls costing {self.books.expected}")
        if any(x.state == "active" for x in gateway):
            problems.append("a gateway grant is still reserved after the runtime closed")
        agent_used = sum((x.actual or Decimal(0) for x in agents if x.state == "committed"), Decimal(0))
        agent_held = sum((x.amount for x in agents if x.state == "active"), Decimal(0))
        if line.used != charged + agent_used:
            problems.append(f"quota used {line.used} != gateway {charged} + agents {agent_used}")
        if line.reserved != agent_held:
            problems.append(f"quota reserved {line.reserved} != agents' open grants {agent_held}")
        if line.used < 0 or line.reserved < 0 or line.used + line.reserved > Decimal(self.quota):
            problems.append(f"quota out of bounds: used {line.used}, reserved {line.reserved}")
        return problems


@contextmanager
def clean_env() -> Iterator[None]:
    """No AURAISON_* variable of the caller's shell leaks into the fuzzed settings."""
    import os

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AURAISON_")}
    try:
        yield
    finally:
        os.environ.update(saved)


def summary_rows(report: Report) -> list[tuple[str, int, int, str, int]]:
    """(tool, cases, allowed, refused by kind, internal errors), for the bench and for failures."""
    rows = []
    for tool in sorted(report.outcomes):
        c = report.outcomes[tool]
        refused = {k: v for k, v in sorted(c.items()) if k not in ("allowed", "internal", "skipped_unsafe")}
        rows.append(
            (
                tool,
                sum(v for k, v in c.items() if k != "skipped_unsafe"),
                c["allowed"],
                " ".join(f"{k}={v}" for k, v in refused.items()),
                c["internal"],
            )
        )
    return rows


def fuzz_tool(fz: GatewayFuzz, tool: str, cases: int, explicit: bool = True) -> None:
    """``cases`` deterministic Hypothesis examples of ``tool``'s arguments (``explicit``: the
    strategy's pinned examples first), each one call through ``fz``."""
    from hypothesis import HealthCheck, Phase, given, settings

    strategy = fz.strategy(tool)

    @settings(
        max_examples=cases,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate] if explicit else [Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        mode, args = data.draw(strategy)
        fz.call(tool, mode, args)

    run()


def needs_more_than_operator(fz: GatewayFuzz, tool: str) -> bool:
    """Whether the default policy keeps ``tool`` from an operator (denied, or a person must
    approve): what other identities are fuzzed over."""
    r = fz.engine.policy.resolve(fz.tenant, "operator", tool)
    return r.deny_rule is not None or r.allow_rule is None or r.approval_rule is not None
