import type { ReactNode } from "react";

/** The page's refusal a person reads first (role=alert, for screen readers), or nothing. */
export function Alert({ error, testId }: { error: string; testId?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert" data-testid={testId}>
      {error}
    </p>
  );
}

/**
 * One listing of the console, the same way on every page: nothing while it loads (`rows` null),
 * the empty-state text that says what to do when there are no rows, else a table with one header
 * row. Without `empty`, an empty listing still shows its table (an invoice with no lines keeps
 * its total).
 */
export function Table<T>({
  rows,
  head,
  row,
  empty,
  testId,
  emptyTestId,
  caption,
  foot,
}: {
  rows: readonly T[] | null | undefined;
  head: readonly string[];
  row: (item: T) => ReactNode;
  empty?: ReactNode;
  testId?: string;
  emptyTestId?: string;
  caption?: ReactNode;
  foot?: ReactNode;
}) {
  if (!rows) return null;
  if (rows.length === 0 && empty !== undefined)
    return (
      <p className="empty" data-testid={emptyTestId}>
        {empty}
      </p>
    );
  return (
    <table data-testid={testId}>
      {caption && <caption>{caption}</caption>}
      <thead>
        <tr>
          {head.map((h, i) => (
            <th key={i}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{rows.map(row)}</tbody>
      {foot && <tfoot>{foot}</tfoot>}
    </table>
  );
}
