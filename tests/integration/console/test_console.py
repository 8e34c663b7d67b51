"""The operator console in a real browser (Debian's chromium through Playwright) against a real
control API, simulator, management plane and lake: sign in, every page, the robot moving on the
map while an agent navigates (the page's pose is the sim's), the e-stop, a drive approved from
the inbox that then runs once, and a run's trace timeline. Screenshots go to
``out/console-screenshots/`` (``AURAISON_CONSOLE_SHOTS``)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fastmcp import Client

from auraison.identity import Identity, PrincipalKind, Role
from auraison.mcp_servers.cluster.console import mount_pages
from auraison.mcp_servers.cluster.experiments import Metric
from tests.integration.console.conftest import Console, shot

WAIT_MS = 60_000  # a page condition on a loaded two-core machine (Playwright polls; never a sleep)


def until(check: Callable[[], Any], what: str, limit_s: float = 60) -> Any:
    """Poll ``check`` (on the simulator or the API) until it answers truthy; fail naming ``what``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sign_in(browser: Any, con: Console, key: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{con.url}/console/")
    page.fill("input[name=apikey]", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/robot/", timeout=WAIT_MS)
    return page


def page_pose(page: Any) -> tuple[float, float]:
    el = page.locator("[data-testid=pose]")
    return float(el.get_attribute("data-x")), float(el.get_attribute("data-y"))


def off_track(p: tuple[float, float], path: list[tuple[float, float]]) -> float:
    """How far ``p`` lies from the polyline ``path`` (metres)."""

    def seg(a: tuple[float, float], b: tuple[float, float]) -> float:
        (ax, ay), (bx, by) = a, b
        L2 = (bx - ax) ** 2 + (by - ay) ** 2
        t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * (bx - ax) + (p[1] - ay) * (by - ay)) / L2))
        return math.dist(p, (ax + t * (bx - ax), ay + t * (by - ay)))

    return min((seg(a, b) for a, b in itertools.pairwise(path)), default=math.dist(p, path[0]))


def sim_pose(con: Console) -> tuple[float, float, float]:
    return con.sim.call(lambda: (con.sim.sim.robot.x, con.sim.sim.robot.y, con.sim.sim.robot.v))


def test_sign_in_every_page_and_only_the_callers_tenant(console: Console, browser: Any) -> None:
    """A bad key is refused with what to do; a person's key opens every page, each showing the
    caller's tenant only (another tenant's pending approval never appears)."""
    con = console
    # An experiment with two runs, logged as a training job would, first of all: the control
    # plane's read right after its lake write races the span sink's writes on the shared lake
    # connection (``Lake.execute`` hands back the connection; its rows are fetched outside the
    # lock), so this runs before any request makes spans. Reported to the lead.
    owner = Identity(tenant="acme", role=Role.owner, subject="trainer", kind=PrincipalKind.human)
    cp = con.rt.control
    exp = cp.experiment_create(owner, "lr-sweep")["experiment_id"]
    for lr, losses in ((0.1, (1.0, 0.6, 0.4)), (0.01, (1.0, 0.9, 0.8))):
        run_id = cp.run_start(owner, exp, {"lr": lr}, None)["run_id"]
        cp.log_metrics(owner, run_id, [Metric(key="loss", value=v, step=i) for i, v in enumerate(losses)])
        cp.run_end(owner, run_id, "finished")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{con.url}/console/robot/")
    page.wait_for_url("**/console/", timeout=WAIT_MS)  # signed out: back to sign-in
    page.fill("input[name=apikey]", "ak_not-a-key")
    page.click("button[type=submit]")
    page.locator("p.error").wait_for(timeout=WAIT_MS)
    assert "auraison keys issue" in page.locator("p.error").inner_text()
    shot(page, "signin")
    page.close()

    H = {"Authorization": f"Bearer {con.keys['owner']}"}
    asked = con.run(_drive(con, tenant="globex"))  # globex's agent asks: acme never sees it
    assert "apr_" in asked, asked

    page = sign_in(browser, con, con.keys["owner"])
    assert page.get_by_test_id("who").inner_text().startswith("acme · owner · person")
    page.wait_for_selector("[data-testid=pose]", timeout=WAIT_MS)
    page.wait_for_selector("canvas[data-testid=map]", timeout=WAIT_MS)
    shot(page, "robot")

    page.click("text=Approvals")
    page.wait_for_selector("[data-testid=no-approvals]", timeout=WAIT_MS)  # globex's is not acme's
    shot(page, "approvals-empty")

    page.click("text=Agents & runs")
    page.wait_for_selector("text=No agents registered", timeout=WAIT_MS)
    with httpx.Client(base_url=con.url, timeout=60, headers=H) as http:
        agent = http.post("/agents", json={"spec": {"name": "navigator", "version": "1.2.0"}}).json()
    page.reload()
    row = page.locator("[data-testid=agents] tr", has_text=agent["agent_id"])
    row.wait_for(timeout=WAIT_MS)
    assert "navigator" in row.inner_text() and "registered" in row.inner_text()
    shot(page, "agents")

    page.click("text=Jobs & clusters")
    page.wait_for_selector("[data-testid=cluster-local]", timeout=WAIT_MS)
    page.select_option("select[aria-label=experiment]", exp)
    page.click("text=Compare runs")
    plot = page.locator("img.plot")
    plot.wait_for(timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('img.plot').naturalWidth > 0", timeout=WAIT_MS)
    shot(page, "jobs")

    page.click("text=Usage")
    page.wait_for_selector("[data-testid=quotas]", timeout=WAIT_MS)
    assert "tool_calls" in page.locator("[data-testid=quotas]").inner_text()
    assert "acme · plan pro" in page.locator("[data-testid=invoice]").inner_text()
    shot(page, "usage")


async def _drive(con: Console, tenant: str = "acme") -> str:
    """An agent principal of ``tenant`` asks the gateway (in the control plane's runtime) to
    drive forward; returns the tool's text (the approval request while it waits)."""
    from auraison.runtime import Runtime

    rt = con.rt
    if tenant != rt.settings.agentops.tenant:
        ao = rt.settings.agentops.model_copy(update={"tenant": tenant})
        rt = Runtime(rt.settings.model_copy(update={"agentops": ao}), engine=con.rt.engine)
    async with Client(rt.gateway()) as client:
        res = await client.call_tool(
            "robot_drive", {"linear": 0.1, "angular": 0.0, "duration": 1.0}, raise_on_error=False
        )
    if rt is not con.rt:
        await rt.aclose()
    return "".join(getattr(c, "text", "") for c in res.content) + ("" if res.is_error else " ran")


def test_approve_a_pending_drive_from_the_inbox_and_it_runs_once(console: Console, browser: Any) -> None:
    """An agent's drive waits for a person; an agent's key cannot decide it; the person approves
    it in the inbox; the agent's identical retry moves the robot once; the next asks again."""
    con = console
    asked = con.run(_drive(con))
    assert "apr_" in asked and "ran" not in asked.split()[-1:], asked
    x0, y0, _ = sim_pose(con)

    page = sign_in(browser, con, con.keys["owner"])
    page.click("text=Approvals")
    row = page.locator("tr[data-approval]").first
    row.wait_for(timeout=WAIT_MS)
    approval_id = row.get_attribute("data-approval")
    text = row.inner_text()
    assert "robot_drive" in text and "agent:" in text and '"linear": 0.1' in text
    shot(page, "approvals")

    with httpx.Client(base_url=con.url, timeout=30) as http:  # an agent's key never decides
        refused = http.post(
            f"/approvals/{approval_id}/decide",
            json={"approve": True},
            headers={"Authorization": f"Bearer {con.keys['agent']}"},
        )
        assert refused.status_code == 403 and "agent" in refused.json()["detail"]

    page.fill(f"input[aria-label='reason for {approval_id}']", "clear ahead, 10 cm")
    page.click(f"[data-testid=approve-{approval_id}]")
    page.wait_for_selector("[data-testid=decided]", timeout=WAIT_MS)
    assert f"{approval_id} approved" in page.get_by_test_id("decided").inner_text()

    ran = con.run(_drive(con))
    assert ran.endswith(" ran"), ran
    x1, y1, _ = sim_pose(con)
    assert math.dist((x0, y0), (x1, y1)) > 0.03  # it moved
    again = con.run(_drive(con))
    assert "apr_" in again and approval_id not in again, again  # single use: a new request

    page.check("text=show decided and expired too")
    used = page.locator(f"tr[data-approval={approval_id}] td.status")
    used.wait_for(timeout=WAIT_MS)
    page.wait_for_function(
        f"document.querySelector('tr[data-approval={approval_id}] td.status').innerText.startsWith('used')",
        timeout=WAIT_MS,
    )
    assert "clear ahead, 10 cm" in used.inner_text()
    shot(page, "approvals-decided")


def test_robot_moves_on_the_map_while_an_agent_navigates_then_estop_and_trace(
    console: Console, browser: Any
) -> None:
    """The page's pose follows the sim while the navigator agent drives; the e-stop stops the
    robot and cancels the goal; the agent's run and its trace timeline show on the agents page."""
    from auraison.agents.runner import run

    con = console
    page = sign_in(browser, con, con.keys["operator"])
    page.wait_for_selector("[data-testid=pose]", timeout=WAIT_MS)
    start = page_pose(page)
    sx, sy, _ = sim_pose(con)
    assert math.dist(start, (sx, sy)) < 0.02

    agent = con.submit(run("navigator", "go to kitchen", runtime=con.rt))
    page.wait_for_function(
        f"""() => {{
            const el = document.querySelector('[data-testid=pose]');
            return el && Math.hypot(el.dataset.x - {start[0]}, el.dataset.y - {start[1]}) > 1.0;
        }}""",
        timeout=WAIT_MS,
    )
    moving = page_pose(page)
    driven = con.sim.call(lambda: [*con.sim.sim.trail.points, (con.sim.sim.robot.x, con.sim.sim.robot.y)])
    assert off_track(moving, driven) < 0.02  # a pose the sim's robot was at (the page lags, never strays)
    assert math.dist(moving, driven[-1]) < 1.0  # and a recent one
    assert page.get_by_test_id("nav-state").inner_text() == "navigating"
    shot(page, "robot-navigating")

    page.click("[data-testid=estop]")
    page.wait_for_selector("[data-testid=estop-note]", timeout=WAIT_MS)
    until(lambda: sim_pose(con)[2] == 0.0 and con.sim.call(lambda: con.sim.sim.nav.active is None), "a stop")
    outcome = agent.result(120)
    assert "canceled" in outcome.output.lower() or "stopp" in outcome.output.lower(), outcome.output
    stopped = sim_pose(con)
    page.wait_for_function(
        "document.querySelector('[data-testid=nav-state]').innerText === 'canceled'", timeout=WAIT_MS
    )
    page.wait_for_function(
        f"""() => {{
            const el = document.querySelector('[data-testid=pose]');
            return Math.hypot(el.dataset.x - {stopped[0]}, el.dataset.y - {stopped[1]}) < 0.02;
        }}""",
        timeout=WAIT_MS,
    )
    assert page.get_by_test_id("estop-at").inner_text() != "never"
    assert math.dist(sim_pose(con)[:2], stopped[:2]) < 0.01  # still where it stopped
    assert math.dist(stopped[:2], (sx, sy)) > 0.3 and math.dist(stopped[:2], (5.75, 5.75)) > 0.3
    shot(page, "robot-stopped")

    page.click("text=Agents & runs")
    link = page.locator(f"[data-testid=run-{outcome.trace_id}]")
    link.wait_for(timeout=WAIT_MS)  # the run's spans reached the lake
    link.click()
    timeline = page.get_by_test_id("timeline")
    timeline.wait_for(timeout=WAIT_MS)
    for span in ("invoke_agent navigator", "chat", "execute_tool robot_navigate_safely"):
        timeline.locator(f"[data-span^='{span}']").first.wait_for(timeout=WAIT_MS)
    shot(page, "agents-trace")


def test_a_goal_another_process_sent_shows_as_the_robot_reports_it(console: Console, browser: Any) -> None:
    """A goal sent over another rosbridge connection (a CLI run, a Claude Code gateway) shows
    on the map with the robot's own navigation state and progress; the console's e-stop ends
    it (the robot's own e-stop, not only the control plane's goals)."""
    from auraison.mcp_servers.robot.models import Pose
    from auraison.runtime import Runtime

    con = console
    page = sign_in(browser, con, con.keys["operator"])
    page.wait_for_selector("[data-testid=pose]", timeout=WAIT_MS)
    other = Runtime(con.rt.settings)  # its own robot connection, as another process has
    going = con.submit(other.robot.navigate(Pose(x=0.75, y=5.75)))  # the office
    page.wait_for_function(
        "document.querySelector('[data-testid=nav-state]').innerText === 'navigating' && "
        "document.querySelector('[data-testid=progress]').value > 0.05",
        timeout=WAIT_MS,
    )
    assert "another process" in page.locator(".facts").inner_text()
    shot(page, "robot-other-process")
    page.click("[data-testid=estop]")  # the console's e-stop ends a goal it did not send
    assert going.result(60).status == "canceled"
    page.wait_for_function(
        "document.querySelector('[data-testid=nav-state]').innerText === 'canceled'", timeout=WAIT_MS
    )
    con.run(other.aclose())


def test_without_a_build_the_console_says_how_to_make_one(tmp_path: Any) -> None:
    """No Node.js, no export: /console answers a page that says how to build it (503), and the
    root sends a browser there."""
    app = FastAPI()
    mount_pages(app, tmp_path / "missing")
    with TestClient(app) as http:
        r = http.get("/console/robot/")
        assert r.status_code == 503 and "make console" in r.text and "Node.js" in r.text
        assert http.get("/", follow_redirects=False).headers["location"] == "/console/"


def test_the_console_routes_honour_the_openapi_document(console: Console) -> None:
    """The console's routes, fuzzed from the control API's OpenAPI document (as the control
    plane's own test does for all of them): no server errors, declared statuses and schemas."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings

    schema = schemathesis.openapi.from_url(f"{console.url}/openapi.json").include(tag="console")
    headers = {"Authorization": f"Bearer {console.keys['operator']}"}
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hsettings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(base_url=console.url, headers=headers, timeout=60)

        check()
        tested.append(operation.label)
    assert len(tested) == 12, tested  # the robot stream is left out of the document
