// The console's one way to talk to the control API: same origin, the API key as a bearer token.

export type Who = {
  tenant: string;
  role: string;
  kind: string;
  subject: string;
  principal: string;
  human: boolean;
};

const KEY = "auraison.apiKey";
const WHO = "auraison.who";

export function apiKey(): string | null {
  return typeof window === "undefined" ? null : window.sessionStorage.getItem(KEY);
}

export function signedIn(): Who | null {
  if (typeof window === "undefined") return null;
  const raw = window.sessionStorage.getItem(WHO);
  return raw && apiKey() ? (JSON.parse(raw) as Who) : null;
}

export function signOut(): void {
  window.sessionStorage.removeItem(KEY);
  window.sessionStorage.removeItem(WHO);
}

/** An API refusal, with the text a person can act on. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public body: unknown = null,
  ) {
    super(message);
  }
}

/** What a person reads of any failure: the API's explained refusal, or the thrown thing itself. */
export const errText = (e: unknown): string => (e instanceof ApiError ? e.message : String(e));

function explain(status: number, detail: string): string {
  if (status === 401) return "Your API key was not accepted (revoked, or from another installation). Sign in again with a key from `auraison keys issue TENANT NAME --role operator`.";
  if (status === 403) return `Not allowed: ${detail}`;
  if (status === 409) return detail;
  if (status === 429) return `The control plane is busy: ${detail}. Try again in a moment.`;
  if (status === 503) return `A service is down: ${detail}. Start it (\`auraison services up\`, or the simulator: \`auraison sim run\`) and retry.`;
  if (status === 404) return `Not found in your tenant: ${detail}`;
  return detail || `HTTP ${status}`;
}

export async function api<T = unknown>(path: string, init: RequestInit = {}, key?: string): Promise<T> {
  const token = key ?? apiKey();
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, cache: "no-store" });
  } catch {
    throw new ApiError(0, "The control API cannot be reached. Is `auraison control serve` running?");
  }
  if (!res.ok) {
    let body: unknown = null;
    let detail = res.statusText;
    try {
      body = await res.json();
      const d = (body as { detail?: unknown }).detail;
      detail = typeof d === "string" ? d : JSON.stringify(d);
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, explain(res.status, detail), body);
  }
  const type = res.headers.get("Content-Type") || "";
  return (type.includes("json") ? await res.json() : await res.blob()) as T;
}

export async function signIn(key: string): Promise<Who> {
  const who = await api<Who>("/whoami", {}, key);
  window.sessionStorage.setItem(KEY, key);
  window.sessionStorage.setItem(WHO, JSON.stringify(who));
  return who;
}

/** Server-sent events over fetch (EventSource cannot send a bearer token). */
export async function stream(
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(path, {
    headers: { Authorization: `Bearer ${apiKey() ?? ""}`, Accept: "text/event-stream" },
    signal,
    cache: "no-store",
  });
  if (!res.ok || !res.body) {
    let detail = res.statusText;
    try {
      detail = (await res.json()).detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, explain(res.status, detail));
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

export function ago(unixSeconds: number | null | undefined): string {
  if (!unixSeconds) return "—";
  const s = Math.round(Date.now() / 1000 - unixSeconds);
  if (s < 0) return `in ${-s}s`;
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return new Date(unixSeconds * 1000).toLocaleString();
}
