"use client";

import { useEffect, useState } from "react";
import { api, errText } from "@/lib/api";
import { Alert, Table } from "@/components/Table";

type Quota = {
  dimension: string;
  period: string;
  limit: string | null;
  used: string;
  reserved: string;
  remaining: string | null;
  source: string;
};
type Invoice = {
  tenant: string;
  period: string;
  plan: string;
  lines: { dimension: string; quantity: string; unit_price: string; amount: string }[];
  total: string;
  currency: string;
};

const num = (s: string | null) => (s == null ? "unlimited" : Number(s).toLocaleString(undefined, { maximumFractionDigits: 3 }));

export default function UsagePage() {
  const [quotas, setQuotas] = useState<Quota[] | null>(null);
  const [invoice, setInvoice] = useState<Invoice | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const fail = (e: unknown) => setError(errText(e));
    api<Quota[]>("/usage/quotas").then(setQuotas).catch(fail);
    api<Invoice>("/usage/invoice").then(setInvoice).catch(fail);
  }, []);
  return (
    <>
      <Alert error={error} />
      <section className="card">
        <h2>Quotas {quotas?.[0] && <span className="muted">({quotas[0].period})</span>}</h2>
        <Table
          rows={quotas}
          testId="quotas"
          empty="No quotas: your tenant has no plan yet (auraison tenants create)."
          head={["Dimension", "Used", "Reserved", "Remaining", "Limit", "", "From"]}
          row={(q) => {
            const lim = q.limit == null ? null : Number(q.limit);
            const frac = lim ? (Number(q.used) + Number(q.reserved)) / lim : 0;
            return (
              <tr key={q.dimension}>
                <td>{q.dimension}</td>
                <td>{num(q.used)}</td>
                <td>{num(q.reserved)}</td>
                <td>{num(q.remaining)}</td>
                <td>{num(q.limit)}</td>
                <td>{lim ? <progress max={1} value={Math.min(1, frac)} /> : null}</td>
                <td className="muted">{q.source}</td>
              </tr>
            );
          }}
        />
      </section>
      <section className="card">
        <h2>Invoice preview</h2>
        <Table
          rows={invoice?.lines}
          testId="invoice"
          caption={
            invoice && (
              <>
                {invoice.tenant} · plan {invoice.plan} · {invoice.period} (preview: the month is not over)
              </>
            )
          }
          head={["Dimension", "Quantity", "Unit price", "Amount"]}
          row={(l) => (
            <tr key={l.dimension}>
              <td>{l.dimension}</td>
              <td>{num(l.quantity)}</td>
              <td>{l.unit_price}</td>
              <td>{l.amount}</td>
            </tr>
          )}
          foot={
            invoice && (
              <tr>
                <th colSpan={3}>Total</th>
                <th data-testid="invoice-total">
                  {invoice.total} {invoice.currency}
                </th>
              </tr>
            )
          }
        />
      </section>
    </>
  );
}
