"use client";

import { useEffect, useState } from "react";
import { api, errText } from "@/lib/api";
import { Alert, Table } from "@/components/Table";

type Cluster = { name: string; kind: string; address: string; managed: boolean; up: boolean };
type ClusterStatus = {
  name: string;
  up: boolean;
  total: Record<string, number>;
  used: Record<string, number>;
  free: Record<string, number>;
  detail: string;
};
type Job = {
  submission_id: string;
  cluster: string;
  entrypoint: string;
  status: string;
  message: string;
  start_time: number | null;
  end_time: number | null;
};
type Experiment = { experiment_id: string; name: string; created_ns: number; runs: number };

const fmt = (k: string, v: number) => (k.includes("memory") ? `${(v / 2 ** 30).toFixed(1)} GiB` : `${v}`);

export default function JobsPage() {
  const [clusters, setClusters] = useState<Cluster[] | null>(null);
  const [status, setStatus] = useState<Record<string, ClusterStatus | string>>({});
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [jobsError, setJobsError] = useState("");
  const [logs, setLogs] = useState<{ id: string; text: string } | null>(null);
  const [exps, setExps] = useState<Experiment[] | null>(null);
  const [exp, setExp] = useState("");
  const [metric, setMetric] = useState("loss");
  const [plot, setPlot] = useState<string | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    api<Cluster[]>("/clusters")
      .then((cs) => {
        setClusters(cs);
        for (const c of cs)
          api<ClusterStatus>(`/clusters/${c.name}`)
            .then((s) => setStatus((m) => ({ ...m, [c.name]: s })))
            .catch((e) => setStatus((m) => ({ ...m, [c.name]: errText(e) })));
      })
      .catch((e) => setError(errText(e)));
    const loadJobs = () =>
      api<Job[]>("/jobs?limit=50")
        .then((j) => {
          setJobs(j);
          setJobsError("");
        })
        .catch((e) => setJobsError(errText(e)));
    void loadJobs();
    api<Experiment[]>("/experiments")
      .then(setExps)
      .catch((e) => setError(errText(e)));
    const t = setInterval(loadJobs, 10000);
    return () => clearInterval(t);
  }, []);

  const showPlot = async () => {
    try {
      const blob = await api<Blob>(`/experiments/${exp}/plot.png?metric=${encodeURIComponent(metric)}`);
      setPlot(URL.createObjectURL(blob));
      setError("");
    } catch (e) {
      setError(errText(e));
    }
  };

  return (
    <>
      <Alert error={error} />
      <section className="card">
        <h2>Clusters</h2>
        {clusters && clusters.length === 0 && <p className="empty">No Ray clusters configured (see settings: ray).</p>}
        {clusters?.map((c) => {
          const s = status[c.name];
          return (
            <div key={c.name} className="cluster" data-testid={`cluster-${c.name}`}>
              <h3>
                {c.name} <span className={`status ${c.up ? "ok" : "failed"}`}>{c.up ? "up" : "down"}</span>{" "}
                <span className="muted">
                  {c.kind} · {c.address}
                </span>
              </h3>
              {typeof s === "string" && <p className="error">{s}</p>}
              {s && typeof s !== "string" && !s.up && (
                <p className="empty">
                  Down{s.detail ? `: ${s.detail}` : ""}. Start it with <code>auraison clusters start</code>.
                </p>
              )}
              {s && typeof s !== "string" && s.up && (
                <Table
                  rows={Object.keys(s.total).filter((k) => !k.startsWith("node:"))}
                  head={["Resource", "Total", "Used", "Free"]}
                  row={(k) => (
                    <tr key={k}>
                      <td>{k}</td>
                      <td>{fmt(k, s.total[k])}</td>
                      <td>{fmt(k, s.used[k] ?? 0)}</td>
                      <td>{fmt(k, s.free[k] ?? 0)}</td>
                    </tr>
                  )}
                />
              )}
            </div>
          );
        })}
      </section>
      <section className="card">
        <h2>Jobs</h2>
        {jobsError && <p className="error">{jobsError}</p>}
        <Table
          rows={jobs}
          testId="jobs"
          empty={
            <>
              No jobs in your tenant. Submit one: <code>auraison jobs submit &quot;python train.py&quot; --id train-1</code>.
            </>
          }
          head={["Job", "Cluster", "Status", "Entrypoint", "Logs"]}
          row={(j) => (
            <tr key={j.submission_id}>
              <td>
                <code>{j.submission_id}</code>
              </td>
              <td>{j.cluster}</td>
              <td className={`status ${j.status.toLowerCase()}`}>{j.status}</td>
              <td>
                <code>{j.entrypoint}</code>
              </td>
              <td>
                <button
                  className="link"
                  onClick={() =>
                    api<{ logs: string }>(`/jobs/${j.submission_id}/logs`)
                      .then((l) => setLogs({ id: j.submission_id, text: l.logs || "(no output yet)" }))
                      .catch((e) => setLogs({ id: j.submission_id, text: errText(e) }))
                  }
                >
                  tail
                </button>
              </td>
            </tr>
          )}
        />
        {logs && (
          <>
            <h3>
              Log tail of <code>{logs.id}</code>
            </h3>
            <pre className="logs">{logs.text}</pre>
          </>
        )}
      </section>
      <section className="card">
        <h2>Experiments</h2>
        {exps && exps.length === 0 && (
          <p className="empty">No experiments yet: a training job logs them with the cluster_run_* tools.</p>
        )}
        {exps && exps.length > 0 && (
          <>
            <div className="row">
              <select value={exp} onChange={(e) => setExp(e.target.value)} aria-label="experiment">
                <option value="">choose an experiment…</option>
                {exps.map((x) => (
                  <option key={x.experiment_id} value={x.experiment_id}>
                    {x.name} ({x.runs} runs)
                  </option>
                ))}
              </select>
              <input value={metric} onChange={(e) => setMetric(e.target.value)} aria-label="metric" />
              <button disabled={!exp} onClick={showPlot}>
                Compare runs
              </button>
            </div>
            {/* eslint-disable-next-line @next/next/no-img-element */}
            {plot && <img src={plot} alt={`${metric} by step, one line per run`} className="plot" />}
          </>
        )}
      </section>
    </>
  );
}
