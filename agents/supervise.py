"""A run's supervisor: ``python -m auraison.agents.supervise <run folder>``.

The control plane (``mcp_servers/cluster/runs.py``) starts one per agent run, as a subprocess
or as a Ray job's entrypoint, with a ``run.json`` in the run's folder. The supervisor runs the
agent as its child — a Pydantic AI agent (this module again, with ``--child``) or the real
Claude Code CLI, headless, with the plugin, against the offline stand-in Messages API unless a
real key is configured — heartbeats while it runs, and reports the end: status, tokens, tool
calls, trace id, output.

It never depends on the control plane to do its work: a heartbeat that fails is logged and the
agent goes on; the end is written to ``result.json`` first and then reported until the control
plane (its HTTP API, or the control store) takes it. SIGTERM (a stop) reaches the agent, which
gets a grace period before SIGKILL; the run then ends ``STOPPED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from auraison.mcp_servers.cluster.models import RunLaunch, RunReport, RunStatus

log = structlog.get_logger(__name__)
REPORT_GIVE_UP_S = 24 * 3600.0
"""How long an ending is retried while the control plane is away (then ``result.json`` holds it)."""
REPO = Path(__file__).resolve().parents[1]


class Reporter:
    """Where reports go: the control API (``report_url``), or the control store directly (a
    run started by a CLI or an MCP gateway, with no API in between)."""

    def __init__(self, launch: RunLaunch) -> None:
        self.launch = launch
        self._plane: Any = None

    def send(self, report: RunReport) -> bool | None:
        """True: taken; False: refused for good (4xx); None: not reachable now (retry)."""
        # Every report carries the run itself: a control plane that lost it takes it back.
        where = {"pid": os.getpid()} if self.launch.registration.where == "local" else {}
        registration = self.launch.registration.model_copy(update=where)
        report = report.model_copy(update={"registration": registration})
        if self.launch.report_url:
            return self._http(report)
        return self._store(report)

    def _http(self, report: RunReport) -> bool | None:
        url = f"{self.launch.report_url.rstrip('/')}/runs/{self.launch.run_id}/report"
        headers = {"Authorization": f"Bearer {self.launch.report_token}"}
        try:
            resp = httpx.post(url, json=report.model_dump(mode="json"), headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            log.warning("control API unreachable; the run goes on", error=str(exc))
            return None
        if resp.is_success:
            return True
        if 400 <= resp.status_code < 500 and resp.status_code not in (408, 409, 429):
            log.warning("report refused", status=resp.status_code, detail=resp.text[:500])
            return False
        return None

    def prepare(self) -> None:
        """Open what reporting needs (the control store's plane) ahead of the first report."""
        if not self.launch.report_url and self._plane is None:
            from auraison.mcp_servers.cluster.service import ControlPlane
            from auraison.settings import load_settings

            self._plane = ControlPlane(load_settings())

    def _store(self, report: RunReport) -> bool | None:
        from auraison.errors import AuraisonError, Unavailable
        from auraison.settings import load_settings

        try:
            if self._plane is None:
                from auraison.mcp_servers.cluster.service import ControlPlane

                self._plane = ControlPlane(load_settings())
            self._plane.runs.report(self.launch.run_id, self.launch.report_token, report)
            if report.status.is_terminal():
                self._plane.runs.drain()  # its webhook goes out before this process ends
        except Unavailable as exc:
            self._plane = None
            log.warning("control store unreachable; the run goes on", error=str(exc))
            return None
        except AuraisonError as exc:
            log.warning("report refused", error=str(exc))
            return False
        except Exception as exc:  # a database driver's own errors: the store is away
            self._plane = None
            log.warning("control store unreachable; the run goes on", error=str(exc))
            return None
        return True


def _claude() -> str:
    for candidate in (os.environ.get("AURAISON_CLAUDE"), REPO / ".cache" / "claude-code" / "bin" / "claude"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("claude")
    if found is None:
        raise RuntimeError("no Claude Code CLI: set AURAISON_CLAUDE or put `claude` on PATH")
    return found


def _plugin_root() -> Path:
    for candidate in (os.environ.get("AURAISON_PLUGIN_ROOT"), REPO):
        if candidate and (Path(candidate) / ".claude-plugin" / "plugin.json").exists():
            return Path(candidate)
    raise RuntimeError("no Auraison plugin folder: set AURAISON_PLUGIN_ROOT to a checkout of the plugin")


class Supervisor:
    def __init__(self, launch: RunLaunch, run_dir: Path) -> None:
        self.launch = launch
        self.run_dir = run_dir
        self.reporter = Reporter(launch)
        self.beats_ok = 0
        self.beats_failed = 0
        self.stand_in = False

    def _file(self, stack: contextlib.AsyncExitStack, name: str, mode: str) -> Any:
        """A file of the run's folder for a child's output, closed with the run."""
        f = open(self.run_dir / name, mode)  # noqa: SIM115 - closed by the stack
        stack.callback(f.close)
        return f

    def _agent_env(self) -> dict[str, str]:
        env = dict(os.environ)
        agentops = json.loads(env.get("AURAISON_AGENTOPS", "{}"))
        # The run's grant was taken by the control plane and settles at the run's tool calls:
        # the agent's own engine must not reserve a second time.
        agentops |= {"quotas": "none", "tenant": self.launch.registration.tenant, "role": "agent"}
        env["AURAISON_AGENTOPS"] = json.dumps(agentops)
        env["TRACEPARENT"] = f"00-{self.launch.registration.trace_id}-{os.urandom(8).hex()}-01"
        return env

    async def _model_server(self, stack: contextlib.AsyncExitStack) -> dict[str, str]:
        """The Messages API Claude Code talks to: a real key goes to Anthropic; without one,
        the offline stand-in (``auraison model serve``), started for this run."""
        if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
            return {}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auraison",
            "model",
            "serve",
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=self._file(stack, "model.log", "ab"),
            stdin=asyncio.subprocess.DEVNULL,
        )
        stack.push_async_callback(_end, proc)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode().strip()
        if not line.startswith("http"):
            raise RuntimeError(f"auraison model serve did not start (see {self.run_dir / 'model.log'})")
        return {"ANTHROPIC_BASE_URL": line, "ANTHROPIC_API_KEY": "offline-stand-in"}

    async def _start_agent(self, stack: contextlib.AsyncExitStack) -> asyncio.subprocess.Process:
        env = self._agent_env()
        log_file = self._file(stack, "agent.log", "ab")
        if self.launch.registration.kind == "pydantic-ai":
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "auraison.agents.supervise",
                "--child",
                str(self.run_dir),
                env=env,
                cwd=self.run_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        served = await self._model_server(stack)
        self.stand_in = bool(served)
        env |= served
        env |= {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        # Headless, the first request would otherwise go out while the plugin's gateway is still
        # starting (a cold Python process): its tools would not be there yet.
        env.setdefault("CLAUDE_CODE_MCP_STARTUP_WAIT_MS", "120000")
        env.setdefault("MCP_TIMEOUT", "120000")  # a cold gateway on a loaded machine is slow to start
        out = self._file(stack, "claude.jsonl", "wb")
        return await asyncio.create_subprocess_exec(
            _claude(),
            "-p",
            self.launch.registration.prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--plugin-dir",
            str(_plugin_root()),
            env=env,
            cwd=self.run_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=log_file,
        )

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.launch.heartbeat_s)  # the heartbeat period itself
            ok = await asyncio.to_thread(self.reporter.send, RunReport(status=RunStatus.RUNNING))
            if ok:
                self.beats_ok += 1
            else:
                self.beats_failed += 1

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Ready to report before the agent starts: an end reported on a stop must fit its grace.
        warm = asyncio.create_task(asyncio.to_thread(self.reporter.prepare))
        stopped = False
        async with contextlib.AsyncExitStack() as stack:
            try:
                proc = await self._start_agent(stack)
            except Exception as exc:
                report = RunReport(status=RunStatus.FAILED, message=f"the agent could not start: {exc}")
            else:
                beats = asyncio.create_task(self._heartbeats())
                ended = asyncio.create_task(proc.wait())
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not ended.done():
                    await _end(proc, self.launch.stop_grace_s)
                # A stop signals the whole process group: the agent may end first, by SIGTERM.
                stopped = stop.is_set() or proc.returncode == -signal.SIGTERM
                stopping.cancel()
                beats.cancel()
                report = self._result(proc.returncode, stopped)
        path = self.run_dir / "result.json"
        path.write_text(report.model_dump_json())  # the end, kept even if no one hears of it
        with contextlib.suppress(Exception):  # a store away now is the retries' business
            await warm
        await self._deliver(report)
        return 0

    async def _deliver(self, report: RunReport) -> None:
        deadline = time.monotonic() + REPORT_GIVE_UP_S
        delay = 0.2
        while True:
            ok = await asyncio.to_thread(self.reporter.send, report)
            if ok is not None:
                log.info("run reported", run=self.launch.run_id, status=report.status, taken=ok)
                return
            if time.monotonic() >= deadline:
                log.error("run end never reported; see result.json", run=self.launch.run_id)
                return
            await asyncio.sleep(delay)  # backoff while the control plane is away
            delay = min(delay * 2, 1.0)

    def _result(self, returncode: int | None, stopped: bool) -> RunReport:
        if self.launch.registration.kind == "pydantic-ai":
            got = _read_json(self.run_dir / "child.json") or {}
        else:
            got = claude_result(self.run_dir / "claude.jsonl")
            if self.stand_in:  # Claude Code names the model it asked for; the stand-in answered
                got["model"] = "offline stand-in"
        if stopped:
            status, message = RunStatus.STOPPED, "stopped"
        elif returncode == 0 and not got.get("is_error"):
            status, message = RunStatus.SUCCEEDED, got.get("message", "")
        else:
            status = RunStatus.FAILED
            message = got.get("message") or f"the agent exited with {returncode} (see agent.log)"
        trace_id = got.get("trace_id") or self.launch.registration.trace_id
        return RunReport(
            status=status,
            trace_id=trace_id,
            input_tokens=int(got.get("input_tokens", 0)),
            output_tokens=int(got.get("output_tokens", 0)),
            tool_calls=int(got.get("tool_calls", 0)),
            model=got.get("model"),
            output=str(got.get("output", ""))[:100_000],
            message=str(message)[:10_000],
        )


async def _end(proc: asyncio.subprocess.Process, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mcp_call(block: Any) -> bool:
    """A call of an MCP server's tool (the gateway's, governed and metered), not one of Claude
    Code's own (ToolSearch, Read, …)."""
    return (
        isinstance(block, dict)
        and block.get("type") == "tool_use"
        and str(block.get("name")).startswith("mcp__")
    )


def claude_result(path: Path) -> dict[str, Any]:
    """What a ``claude -p --output-format stream-json`` session did: its model, the MCP tool
    calls it made, its tokens and its final answer."""
    out: dict[str, Any] = {"tool_calls": 0, "input_tokens": 0, "output_tokens": 0}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        kind = msg.get("type")
        if kind == "system" and msg.get("model"):
            out["model"] = msg["model"]
        elif kind == "assistant":
            blocks = (msg.get("message") or {}).get("content") or []
            out["tool_calls"] += sum(1 for b in blocks if _mcp_call(b))
        elif kind == "result":
            usage = msg.get("usage") or {}
            out["input_tokens"] = int(usage.get("input_tokens") or 0)
            out["output_tokens"] = int(usage.get("output_tokens") or 0)
            out["output"] = msg.get("result") or ""
            out["is_error"] = bool(msg.get("is_error"))
            if out["is_error"]:
                out["message"] = str(msg.get("result") or msg.get("subtype") or "claude reported an error")
    return out


async def child(launch: RunLaunch, run_dir: Path) -> int:
    """The Pydantic AI agent of a run, in this process: its spans under the run's trace."""
    from opentelemetry import context, propagate

    from auraison.agents.runner import run
    from auraison.settings import load_settings

    token = context.attach(propagate.extract({"traceparent": os.environ.get("TRACEPARENT", "")}))
    try:
        res = await run(launch.definition, launch.registration.prompt, settings=load_settings())
    finally:
        context.detach(token)
    summary = {
        "output": res.output,
        "model": res.model,
        "trace_id": res.trace_id,
        "input_tokens": res.usage["input_tokens"],
        "output_tokens": res.usage["output_tokens"],
        "tool_calls": res.usage["tool_calls"],
        "message": "waiting for a human approval" if res.pending is not None else "",
    }
    (run_dir / "child.json").write_text(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_child = "--child" in args
    args = [a for a in args if a != "--child"]
    if len(args) != 1:
        print("usage: python -m auraison.agents.supervise [--child] <run folder>", file=sys.stderr)
        return 2
    run_dir = Path(args[0]).resolve()
    launch = RunLaunch.model_validate_json((run_dir / "run.json").read_text())
    if not as_child:
        os.environ.update(launch.env)  # the control plane's settings, for this process and its agent
    from auraison.logging import configure_logging
    from auraison.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    if as_child:
        return asyncio.run(child(launch, run_dir))
    return asyncio.run(Supervisor(launch, run_dir).run())


if __name__ == "__main__":
    sys.exit(main())
