"use client";

import { useCallback, useEffect, useState } from "react";
import { ago, api, errText, signedIn } from "@/lib/api";
import { Alert, Table } from "@/components/Table";

type Approval = {
  id: string;
  tenant: string;
  role: string;
  subject: string;
  requested_by: string;
  tool: string;
  args: Record<string, unknown>;
  status: string;
  created_at: number;
  expires_at: number;
  decided_by: string | null;
  reason: string;
};

function expiresIn(a: Approval): string {
  const s = Math.round(a.expires_at - Date.now() / 1000);
  return s <= 0 ? "expired" : s < 120 ? `${s}s` : `${Math.round(s / 60)} min`;
}

/** The human channel: what agents wait on, decided by people (approvals_decide, people only). */
export default function ApprovalsPage() {
  const [items, setItems] = useState<Approval[] | null>(null);
  const [all, setAll] = useState(false);
  const [error, setError] = useState("");
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [done, setDone] = useState("");
  const who = signedIn();

  const load = useCallback(async () => {
    try {
      setItems(await api<Approval[]>(`/approvals?status=${all ? "all" : "pending"}`));
      setError("");
    } catch (e) {
      setError(errText(e));
    }
  }, [all]);

  useEffect(() => {
    void load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [load]);

  const decide = async (a: Approval, approve: boolean) => {
    setDone("");
    try {
      const r = await api<Approval>(`/approvals/${a.id}/decide`, {
        method: "POST",
        body: JSON.stringify({ approve, reason: reasons[a.id] ?? "" }),
      });
      setDone(`${r.id} ${r.status}: the agent's identical retry ${approve ? "now runs once" : "is refused"}.`);
      setError("");
      await load();
    } catch (e) {
      setError(errText(e));
    }
  };

  return (
    <section className="card">
      <h2>Approvals</h2>
      {who && !who.human && (
        <p className="notice">
          You signed in with an agent&apos;s key: you can see what waits, but only a person decides. Sign in with a
          person&apos;s key (owner or operator).
        </p>
      )}
      <label className="inline">
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> show decided and expired too
      </label>
      <Alert error={error} />
      {done && (
        <p className="ok" data-testid="decided">
          {done}
        </p>
      )}
      <Table
        rows={items}
        testId="approvals"
        emptyTestId="no-approvals"
        empty={
          <>
            Nothing waits for a person. When an agent asks for a motion that needs approval (e.g. <code>robot_drive</code>),
            it appears here; approve it and the agent&apos;s identical retry runs once.
          </>
        }
        head={["Request", "Tool", "Arguments (redacted)", "Asked by", "Asked", "Expires in", "Status", "Decision"]}
        row={(a) => (
          <tr key={a.id} data-approval={a.id}>
            <td>
              <code>{a.id}</code>
            </td>
            <td>
              <code>{a.tool}</code>
            </td>
            <td>
              <pre className="args">{JSON.stringify(a.args, null, 1)}</pre>
            </td>
            <td>
              {a.requested_by || a.subject} <span className="muted">({a.role})</span>
            </td>
            <td>{ago(a.created_at)}</td>
            <td>{a.status === "pending" ? expiresIn(a) : "—"}</td>
            <td className={`status ${a.status}`}>
              {a.status}
              {a.decided_by && <div className="muted">by {a.decided_by}</div>}
              {a.reason && <div className="muted">“{a.reason}”</div>}
            </td>
            <td>
              {a.status === "pending" ? (
                <div className="decide">
                  <input
                    placeholder="reason (kept with the decision)"
                    aria-label={`reason for ${a.id}`}
                    value={reasons[a.id] ?? ""}
                    onChange={(e) => setReasons({ ...reasons, [a.id]: e.target.value })}
                  />
                  <button onClick={() => decide(a, true)} data-testid={`approve-${a.id}`}>
                    Approve
                  </button>
                  <button className="deny" onClick={() => decide(a, false)} data-testid={`deny-${a.id}`}>
                    Deny
                  </button>
                </div>
              ) : null}
            </td>
          </tr>
        )}
      />
    </section>
  );
}
