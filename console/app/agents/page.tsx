"use client";

import { useCallback, useEffect, useState } from "react";
import { ago, api, errText } from "@/lib/api";
import { Alert, Table } from "@/components/Table";

type Agent = {
  agent_id: string;
  name: string;
  version: string;
  policy: string;
  state: string;
  last_heartbeat: number | null;
};
type AgentRun = {
  run_id: string;
  agent_id: string;
  agent: string;
  kind: string;
  status: string;
  prompt: string;
  trace_id: string | null;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  tool_calls: number;
  created: number;
  ended: number | null;
};
type Run = {
  trace_id: string;
  root: string;
  agent: string | null;
  model: string | null;
  start_ns: number;
  end_ns: number;
  spans: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
  errors: number;
};
type Span = {
  span_id: string;
  parent_id: string | null;
  name: string;
  start_ns: number;
  end_ns: number;
  status: string;
  agent: string | null;
  tool: string | null;
  decision: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost: number | null;
};

const ms = (ns: number) => `${(ns / 1e6).toFixed(ns < 1e7 ? 1 : 0)} ms`;

function kindOf(name: string): string {
  const op = name.split(" ")[0];
  return ["invoke_agent", "chat", "execute_tool"].includes(op) ? op : "other";
}

function depths(spans: Span[]): Map<string, number> {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const memo = new Map<string, number>();
  const depth = (s: Span): number => {
    if (memo.has(s.span_id)) return memo.get(s.span_id)!;
    const p = s.parent_id ? byId.get(s.parent_id) : undefined;
    const d = p ? depth(p) + 1 : 0;
    memo.set(s.span_id, d);
    return d;
  };
  spans.forEach(depth);
  return memo;
}

function Timeline({ traceId, onClose }: { traceId: string; onClose: () => void }) {
  const [spans, setSpans] = useState<Span[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<Span[]>(`/traces/${traceId}`)
      .then(setSpans)
      .catch((e) => setError(errText(e)));
  }, [traceId]);
  const t0 = spans?.length ? Math.min(...spans.map((s) => s.start_ns)) : 0;
  const t1 = spans?.length ? Math.max(...spans.map((s) => s.end_ns)) : 1;
  const d = spans ? depths(spans) : new Map();
  return (
    <section className="card" data-testid="timeline">
      <h2>
        Trace <code>{traceId}</code>{" "}
        <button className="link" onClick={onClose}>
          close
        </button>
      </h2>
      {error && <p className="error">{error}</p>}
      {spans && spans.length === 0 && <p className="empty">No spans of this trace in your tenant (yet).</p>}
      {spans && spans.length > 0 && (
        <>
          <p className="muted">
            {spans.length} spans over {ms(t1 - t0)}: agent → model → tool → plane. Colours:{" "}
            <span className="sw invoke_agent">agent</span> <span className="sw chat">model</span>{" "}
            <span className="sw execute_tool">tool</span>
          </p>
          <div className="timeline">
            {spans.map((s) => {
              const left = ((s.start_ns - t0) / Math.max(1, t1 - t0)) * 100;
              const width = Math.max(0.4, ((s.end_ns - s.start_ns) / Math.max(1, t1 - t0)) * 100);
              return (
                <div className="tl-row" key={s.span_id} data-span={s.name}>
                  <div className="tl-label" style={{ paddingLeft: `${(d.get(s.span_id) ?? 0) * 14}px` }}>
                    {s.name}
                    {s.decision && s.decision !== "allow" && <span className="badge">{s.decision}</span>}
                    {s.status.toLowerCase() === "error" && <span className="badge err">error</span>}
                  </div>
                  <div className="tl-track">
                    <div
                      className={`tl-bar ${kindOf(s.name)}`}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={`${s.name}: ${ms(s.end_ns - s.start_ns)}${s.input_tokens ? `, ${s.input_tokens} in / ${s.output_tokens} out tokens` : ""}`}
                    />
                  </div>
                  <div className="tl-dur">{ms(s.end_ns - s.start_ns)}</div>
                </div>
              );
            })}
          </div>
        </>
      )}
    </section>
  );
}

export default function AgentsPage() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [onlyAgents, setOnlyAgents] = useState(true);
  const [agentRuns, setAgentRuns] = useState<AgentRun[]>([]);

  const load = useCallback(async () => {
    const fail = (e: unknown) => setError(errText(e));
    api<Agent[]>("/agents")
      .then(async (list) => {
        setAgents(list);
        // Runs the control plane started (POST /agents/{id}/runs); an API without them answers 404.
        const per = await Promise.all(
          list.map((a) => api<AgentRun[]>(`/agents/${a.agent_id}/runs?limit=20`).catch(() => [] as AgentRun[])),
        );
        setAgentRuns(per.flat().sort((x, y) => y.created - x.created));
      })
      .catch(fail);
    api<Run[]>("/traces?limit=200").then(setRuns).catch(fail);
  }, []);
  useEffect(() => {
    void load();
    const t = setInterval(load, 10000); // reads cost quota under the default policy: poll gently
    return () => clearInterval(t);
  }, [load]);

  const shown = runs?.filter((r) => !onlyAgents || r.root.startsWith("invoke_agent")) ?? null;
  return (
    <>
      <Alert error={error} />
      <section className="card">
        <h2>Registered agents</h2>
        <Table
          rows={agents}
          testId="agents"
          empty={
            <>
              No agents registered in your tenant. Register one with <code>POST /agents</code> (or the{" "}
              <code>cluster_agent_register</code> tool); runs started any way still show below, from the lake.
            </>
          }
          head={["Agent", "Version", "State", "Policy", "Last heartbeat"]}
          row={(a) => (
            <tr key={a.agent_id}>
              <td>
                {a.name} <code className="muted">{a.agent_id}</code>
              </td>
              <td>{a.version}</td>
              <td className={`status ${a.state}`}>{a.state}</td>
              <td>{a.policy}</td>
              <td>{ago(a.last_heartbeat)}</td>
            </tr>
          )}
        />
      </section>
      {agentRuns.length > 0 && (
        <section className="card">
          <h2>Runs started by the control plane</h2>
          <Table
            rows={agentRuns}
            testId="agent-runs"
            head={["Run", "Agent", "Status", "Model", "Prompt", "Tokens in / out", "Tool calls", "Started", "Trace"]}
            row={(r) => (
              <tr key={r.run_id}>
                <td>
                  <code>{r.run_id}</code>
                </td>
                <td>
                  {r.agent} <span className="muted">({r.kind})</span>
                </td>
                <td className={`status ${r.status}`}>{r.status}</td>
                <td>{r.model ?? "—"}</td>
                <td>{r.prompt}</td>
                <td>
                  {r.input_tokens} / {r.output_tokens}
                </td>
                <td>{r.tool_calls}</td>
                <td>{ago(r.created)}</td>
                <td>
                  {r.trace_id ? (
                    <button className="link" onClick={() => setOpen(r.trace_id)}>
                      timeline
                    </button>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            )}
          />
        </section>
      )}
      <section className="card">
        <h2>Traces</h2>
        <p className="muted">
          Each run is a trace: the lake&apos;s <code>spans</code> table (or the JSONL trace file when spans skip the lake),
          your tenant only.{" "}
          <label className="inline">
            <input type="checkbox" checked={onlyAgents} onChange={(e) => setOnlyAgents(e.target.checked)} /> agent runs
            only (untick to see single tool calls from the API and Claude Code)
          </label>
        </p>
        <Table
          rows={shown}
          testId="runs"
          emptyTestId="no-runs"
          empty={
            <>
              No runs yet. Run an agent (<code>auraison run navigator &quot;go to kitchen&quot;</code>); its trace
              reaches the lake within a few seconds.
            </>
          }
          head={["Run", "Agent", "Status", "Model", "Started", "Duration", "Spans", "Tokens in / out", "Cost"]}
          row={(r) => (
            <tr key={r.trace_id} className={open === r.trace_id ? "sel" : ""}>
              <td>
                <button className="link" data-testid={`run-${r.trace_id}`} onClick={() => setOpen(r.trace_id)}>
                  {r.root}
                </button>
              </td>
              <td>{r.agent ?? "—"}</td>
              <td className={`status ${r.errors ? "failed" : "ok"}`}>{r.errors ? "error" : "ok"}</td>
              <td>{r.model ?? "—"}</td>
              <td>{ago(r.start_ns / 1e9)}</td>
              <td>{ms(r.end_ns - r.start_ns)}</td>
              <td>{r.spans}</td>
              <td>
                {r.input_tokens} / {r.output_tokens}
              </td>
              <td>{r.cost ? r.cost.toFixed(4) : "0"}</td>
            </tr>
          )}
        />
      </section>
      {open && <Timeline traceId={open} onClose={() => setOpen(null)} />}
    </>
  );
}
