"use client";

import { useEffect, useRef, useState } from "react";
import { api, ApiError, errText, stream } from "@/lib/api";

type Place = { name: string; x: number; y: number; yaw: number };
type MapData = {
  width: number;
  height: number;
  resolution: number;
  origin: [number, number];
  rows: string[];
  places: Place[];
};
type Pt = [number, number];
type Nav = {
  state: string;
  goal: { x: number; y: number; yaw: number } | null;
  distance_remaining_m: number | null;
  message: string;
};
type Snapshot = {
  t: number;
  pose: { x: number; y: number; yaw: number };
  linear_mps: number;
  angular_rps: number;
  navigation: Nav;
  estop_at: number | null;
  connected: boolean;
  progress: number | null;
  path: Pt[];
  path_length_m: number;
  trail: Pt[];
  trail_reset: boolean;
  collisions: { x: number; y: number; t: number }[];
};

const PX = 560;

function draw(canvas: HTMLCanvasElement, map: MapData, snap: Snapshot | null, trail: Pt[]) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const cell = PX / Math.max(map.width, map.height);
  const [ox, oy] = map.origin;
  const H = map.height * cell;
  const at = (x: number, y: number): Pt => [((x - ox) / map.resolution) * cell, H - ((y - oy) / map.resolution) * cell];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#f7f7f4";
  ctx.fillRect(0, 0, map.width * cell, H);
  map.rows.forEach((row, r) => {
    for (let c = 0; c < row.length; c++) {
      if (row[c] === ".") continue;
      ctx.fillStyle = row[c] === "#" ? "#2b2d42" : "#c9c9c9";
      ctx.fillRect(c * cell, H - (r + 1) * cell, cell + 0.5, cell + 0.5);
    }
  });
  ctx.font = "12px system-ui, sans-serif";
  for (const p of map.places) {
    const [px, py] = at(p.x, p.y);
    ctx.fillStyle = "#2a9d8f";
    ctx.beginPath();
    ctx.arc(px, py, 5, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#1b4d47";
    const w = ctx.measureText(p.name).width;
    ctx.fillText(p.name, px + 7 + w > (map.width - 1.5) * cell ? px - 7 - w : px + 7, py - 7);
  }
  const line = (pts: Pt[], color: string, width: number, dash: number[] = []) => {
    if (pts.length < 2) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    pts.forEach(([x, y], i) => {
      const [px, py] = at(x, y);
      if (i) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
    });
    ctx.stroke();
    ctx.setLineDash([]);
  };
  if (snap) line(snap.path, "#4361ee", 2, [6, 4]);
  line(trail, "#f77f00", 3);
  if (!snap) return;
  for (const c of snap.collisions) {
    const [px, py] = at(c.x, c.y);
    ctx.strokeStyle = "#d62828";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(px - 7, py - 7);
    ctx.lineTo(px + 7, py + 7);
    ctx.moveTo(px + 7, py - 7);
    ctx.lineTo(px - 7, py + 7);
    ctx.stroke();
  }
  if (snap.navigation.goal) {
    const [gx, gy] = at(snap.navigation.goal.x, snap.navigation.goal.y);
    ctx.strokeStyle = "#4361ee";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(gx, gy, 9, 0, 2 * Math.PI);
    ctx.stroke();
  }
  const { x, y, yaw } = snap.pose;
  const [rx, ry] = at(x, y);
  const r = Math.max(7, (0.105 / map.resolution) * cell);
  ctx.fillStyle = snap.estop_at && snap.linear_mps === 0 ? "#d62828" : "#e63946";
  ctx.beginPath();
  ctx.arc(rx, ry, r, 0, 2 * Math.PI);
  ctx.fill();
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(rx, ry);
  ctx.lineTo(rx + Math.cos(yaw) * r * 1.8, ry - Math.sin(yaw) * r * 1.8);
  ctx.stroke();
}

export default function RobotPage() {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [map, setMap] = useState<MapData | null>(null);
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [error, setError] = useState("");
  const [live, setLive] = useState(false);
  const trail = useRef<Pt[]>([]);

  useEffect(() => {
    api<MapData>("/robot/map")
      .then(setMap)
      .catch((e) => setError(errText(e)));
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    let stopped = false;
    const loop = async () => {
      while (!stopped) {
        try {
          await stream(
            "/robot/stream",
            (event, data) => {
              if (event === "error") {
                setError((data as { detail: string }).detail);
                setLive(false);
                return;
              }
              const s = data as Snapshot;
              trail.current = s.trail_reset ? s.trail : trail.current.concat(s.trail);
              setSnap(s);
              setLive(true);
              setError("");
            },
            ctl.signal,
          );
        } catch (e) {
          if (stopped) return;
          setLive(false);
          setError(e instanceof ApiError ? e.message : "The robot stream dropped; reconnecting…");
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void loop();
    return () => {
      stopped = true;
      ctl.abort();
    };
  }, []);

  useEffect(() => {
    if (canvas.current && map) draw(canvas.current, map, snap, trail.current);
  }, [map, snap]);

  const nav = snap?.navigation;
  const size = map ? (PX / Math.max(map.width, map.height)) : 1;
  return (
    <div className="robot">
      <section className="card map-card">
        <h2>
          Map <span className={live ? "dot live" : "dot"} data-testid="live" title={live ? "live" : "not live"} />
        </h2>
        {map ? (
          <canvas
            ref={canvas}
            data-testid="map"
            width={Math.round(map.width * size)}
            height={Math.round(map.height * size)}
          />
        ) : (
          <p className="empty">{error ? "" : "Loading the map…"}</p>
        )}
        <p className="legend">
          <span className="k wall" /> wall <span className="k place" /> place <span className="k path" /> planned
          path <span className="k trail" /> driven trail <span className="k hit">✕</span> collision
        </p>
      </section>
      <section className="card side">
        {error && (
          <p className="error" role="alert" data-testid="robot-error">
            {error}
          </p>
        )}
        {snap ? (
          <dl className="facts">
            <dt>Pose</dt>
            <dd data-testid="pose" data-x={snap.pose.x} data-y={snap.pose.y} data-yaw={snap.pose.yaw}>
              x {snap.pose.x.toFixed(2)} m, y {snap.pose.y.toFixed(2)} m, heading{" "}
              {((snap.pose.yaw * 180) / Math.PI).toFixed(0)}°
            </dd>
            <dt>Velocity</dt>
            <dd data-testid="velocity" data-linear={snap.linear_mps}>
              {snap.linear_mps.toFixed(2)} m/s, {snap.angular_rps.toFixed(2)} rad/s
            </dd>
            <dt>Navigation</dt>
            <dd data-testid="nav-state">{nav?.state}</dd>
            {nav?.goal && (
              <>
                <dt>Goal</dt>
                <dd>
                  x {nav.goal.x.toFixed(2)}, y {nav.goal.y.toFixed(2)}
                </dd>
              </>
            )}
            <dt>Progress</dt>
            <dd>
              <progress max={1} value={snap.progress ?? 0} data-testid="progress" />{" "}
              {snap.progress != null ? `${Math.round(snap.progress * 100)}%` : "—"}
              {nav?.distance_remaining_m != null && ` · ${nav.distance_remaining_m.toFixed(1)} m to go`}
            </dd>
            {nav?.message && (
              <>
                <dt>Message</dt>
                <dd>{nav.message}</dd>
              </>
            )}
            <dt>Collisions</dt>
            <dd data-testid="collisions">{snap.collisions.length}</dd>
            <dt>Last e-stop</dt>
            <dd data-testid="estop-at">{snap.estop_at ? new Date(snap.estop_at * 1000).toLocaleTimeString() : "never"}</dd>
            <dt>Robot link</dt>
            <dd>{snap.connected ? "connected" : "disconnected"}</dd>
          </dl>
        ) : (
          !error && <p className="empty">Waiting for the robot…</p>
        )}
        <p className="hint">
          Send the robot somewhere with an agent (<code>auraison run navigator &quot;go to kitchen&quot;</code>) or
          from Claude Code (<code>/navigate kitchen</code>); motion that needs a person shows up under Approvals.
        </p>
      </section>
    </div>
  );
}
