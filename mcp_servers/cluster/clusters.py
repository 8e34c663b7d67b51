"""The clusters the control plane can use: ``local`` (a Ray head Auraison starts and stops
itself, dashboard on, never on 6379) and remote heads by dashboard URL (``ray.clusters``).
Status comes from Ray itself: nodes from the state API, resources used/total from the
dashboard's cluster status."""

from __future__ import annotations

import httpx

from auraison.errors import NotFound, Unavailable, UserError
from auraison.settings import Settings

from .models import ClusterInfo, ClusterStatus, NodeInfo


class ClusterUnavailable(Unavailable):
    """A Ray cluster's dashboard (the Jobs API) cannot be reached."""


class ClusterRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def names(self) -> list[str]:
        return ["local", *sorted(self.settings.ray.clusters)]

    def address(self, name: str) -> str:
        if name == "local":
            return self.settings.ray.dashboard_url
        try:
            return self.settings.ray.clusters[name]
        except KeyError:
            raise NotFound(
                f"no cluster named {name!r}; clusters: {', '.join(self.names())}",
                "add it to [ray.clusters] in your settings (name = dashboard URL)",
            ) from None

    def is_up(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.address(name)}/api/version", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def list(self) -> list[ClusterInfo]:
        return [
            ClusterInfo(
                name=n,
                kind="local" if n == "local" else "remote",
                address=self.address(n),
                managed=n == "local",
                up=self.is_up(n),
            )
            for n in self.names()
        ]

    def status(self, name: str) -> ClusterStatus:
        url = self.address(name)
        if not self.is_up(name):
            hint = "cluster_start (or `auraison services up`)" if name == "local" else "check the remote head"
            return ClusterStatus(name=name, up=False, detail=f"no Ray dashboard at {url}; {hint}")
        from ray.util.state import list_nodes

        nodes = [
            NodeInfo(
                node_id=n.node_id,
                ip=n.node_ip,
                state=str(n.state),
                is_head=bool(n.is_head_node),
                resources={
                    k: float(v) for k, v in (n.resources_total or {}).items() if not k.startswith("node:")
                },
            )
            for n in list_nodes(address=url, detail=True, timeout=10)
        ]
        usage = (
            httpx.get(f"{url}/api/cluster_status", timeout=5)
            .json()
            .get("data", {})
            .get("clusterStatus", {})
            .get("loadMetricsReport", {})
            .get("usage", {})
        )
        total: dict[str, float] = {}
        used: dict[str, float] = {}
        for key, (u, t) in usage.items():
            if key.startswith("node:"):
                continue
            name_ = {"objectStoreMemory": "object_store_memory"}.get(key, key)
            total[name_], used[name_] = float(t), float(u)
        if not total:  # the monitor has not reported yet: totals from the nodes, use unknown (0)
            for n in nodes:
                if "ALIVE" in n.state:
                    for k, v in n.resources.items():
                        total[k] = total.get(k, 0.0) + v
            used = {k: 0.0 for k in total}
        free = {k: total[k] - used.get(k, 0.0) for k in total}
        detail = "" if nodes else "the head answers but no node has registered yet (starting?)"
        return ClusterStatus(
            name=name, up=True, nodes=nodes, total=total, used=used, free=free, detail=detail
        )

    def start(self, name: str) -> ClusterStatus:
        if name != "local":
            raise UserError(
                f"cluster {name} is not managed by Auraison", "start remote clusters where they run"
            )
        from auraison.services.local import LocalServices

        LocalServices(self.settings).up(("ray",))
        return self.status(name)

    def stop(self, name: str) -> ClusterStatus:
        if name != "local":
            raise UserError(
                f"cluster {name} is not managed by Auraison", "stop remote clusters where they run"
            )
        from auraison.services.local import LocalServices

        LocalServices(self.settings).down(("ray",))
        return ClusterStatus(name=name, up=self.is_up(name), detail="stopped")
