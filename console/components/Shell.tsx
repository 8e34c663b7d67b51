"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { type ReactNode, useEffect, useState } from "react";
import { signedIn, signOut, type Who } from "@/lib/api";
import EStop from "./EStop";

const PAGES = [
  ["/robot/", "Robot"],
  ["/approvals/", "Approvals"],
  ["/agents/", "Agents & runs"],
  ["/jobs/", "Jobs & clusters"],
  ["/usage/", "Usage"],
] as const;

/** The frame of every page: navigation, who is signed in, and the e-stop (always reachable). */
export default function Shell({ children }: { children: ReactNode }) {
  const path = usePathname();
  const router = useRouter();
  const [who, setWho] = useState<Who | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    const w = signedIn();
    setWho(w);
    setReady(true);
    if (!w && path !== "/") router.replace("/");
  }, [path, router]);

  if (!ready) return null;
  if (!who) return <main className="signin-wrap">{path === "/" ? children : null}</main>;
  return (
    <>
      <header className="bar">
        <span className="brand">Auraison</span>
        <nav>
          {PAGES.map(([href, label]) => (
            <Link key={href} href={href} className={path === href ? "active" : ""}>
              {label}
            </Link>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {who.tenant} · {who.role} · {who.human ? "person" : "agent"}
        </span>
        <button
          className="link"
          onClick={() => {
            signOut();
            setWho(null);
            router.replace("/");
          }}
        >
          Sign out
        </button>
        <EStop />
      </header>
      <main>{children}</main>
    </>
  );
}
