"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { errText, signIn } from "@/lib/api";

export default function SignIn() {
  const router = useRouter();
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  return (
    <form
      className="signin card"
      onSubmit={async (e) => {
        e.preventDefault();
        setError("");
        try {
          await signIn(key.trim());
          window.location.assign("/console/robot/");
        } catch (err) {
          setError(errText(err));
        }
        void router;
      }}
    >
      <h1>Auraison console</h1>
      <p>
        Sign in with an API key issued by the management plane. A person&apos;s key may decide approvals; an
        agent&apos;s key only watches. Get one with <code>auraison keys issue TENANT NAME --role operator</code>.
      </p>
      <label>
        API key
        <input
          name="apikey"
          type="password"
          autoComplete="off"
          placeholder="ak_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
        />
      </label>
      <button type="submit">Sign in</button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
