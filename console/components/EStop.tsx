"use client";

import { useState } from "react";
import { api, errText } from "@/lib/api";

/** POST /robot/stop (the robot_stop tool, through AgentOps): zero velocity, abort, cancel. */
export default function EStop() {
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <span className="estop-wrap">
      <button
        className="estop"
        data-testid="estop"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            const s = await api<{ estop_at: number }>("/robot/stop", { method: "POST" });
            setNote(`stopped ${new Date(s.estop_at * 1000).toLocaleTimeString()}`);
          } catch (e) {
            setNote(errText(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        E-STOP
      </button>
      {note && (
        <span className="estop-note" data-testid="estop-note">
          {note}
        </span>
      )}
    </span>
  );
}
