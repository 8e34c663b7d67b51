"""KubeRay ``RayCluster`` manifests rendered from typed specs, and checked against the fields
the KubeRay CRD (ray.io/v1) requires, for the two clusters the platform runs on Kubernetes:
``ros-dev-gpu`` (ROS 2 + simulation workers) and ``torch-dev-gpu`` (training workers).

``auraison control manifests`` writes them to ``infra/kuberay/``; a test keeps the files and
the specs in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from auraison.errors import UserError

RAY_VERSION = "2.60.0"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class NodeGroup(BaseModel):
    name: str = Field(pattern=K8S_NAME, max_length=63)
    image: str
    cpu: str = "4"
    memory: str = "16Gi"
    gpus: int = Field(0, ge=0, le=16)
    replicas: int = Field(1, ge=0)
    min_replicas: int = Field(0, ge=0)
    max_replicas: int = Field(4, ge=0)
    ray_start_params: dict[str, str] = {}
    node_selector: dict[str, str] = {}


class RayClusterSpec(BaseModel):
    name: str = Field(pattern=K8S_NAME, max_length=63)
    namespace: str = Field("auraison", pattern=K8S_NAME)
    ray_version: str = RAY_VERSION
    head: NodeGroup
    workers: list[NodeGroup]
    labels: dict[str, str] = {}


def _container(group: NodeGroup, head: bool) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": group.cpu, "memory": group.memory}
    if group.gpus:
        resources["nvidia.com/gpu"] = str(group.gpus)
    container: dict[str, Any] = {
        "name": "ray-head" if head else "ray-worker",
        "image": group.image,
        "resources": {"limits": dict(resources), "requests": dict(resources)},
    }
    if head:
        container["ports"] = [
            {"containerPort": 6379, "name": "gcs"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 10001, "name": "client"},
        ]
    return container


def _template(group: NodeGroup, head: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [_container(group, head)]}
    if group.node_selector:
        spec["nodeSelector"] = group.node_selector
    if group.gpus:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"spec": spec}


def render(spec: RayClusterSpec) -> dict[str, Any]:
    head = spec.head
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/managed-by": "auraison", **spec.labels},
        },
        "spec": {
            "rayVersion": spec.ray_version,
            "enableInTreeAutoscaling": True,
            "headGroupSpec": {
                "serviceType": "ClusterIP",
                "rayStartParams": {
                    "dashboard-host": "0.0.0.0",
                    "num-gpus": str(head.gpus),
                    **head.ray_start_params,
                },
                "template": _template(head, head=True),
            },
            "workerGroupSpecs": [
                {
                    "groupName": w.name,
                    "replicas": w.replicas,
                    "minReplicas": w.min_replicas,
                    "maxReplicas": w.max_replicas,
                    "rayStartParams": {"num-gpus": str(w.gpus), **w.ray_start_params},
                    "template": _template(w, head=False),
                }
                for w in spec.workers
            ],
        },
    }


class ManifestError(UserError, ValueError):
    """A RayCluster manifest misses fields the CRD requires."""


def validate(manifest: dict[str, Any]) -> None:
    """The fields KubeRay's ray.io/v1 RayCluster CRD requires, and their types and bounds."""
    problems: list[str] = []

    def need(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    need(manifest.get("apiVersion") == "ray.io/v1", "apiVersion must be ray.io/v1")
    need(manifest.get("kind") == "RayCluster", "kind must be RayCluster")
    need(bool(manifest.get("metadata", {}).get("name")), "metadata.name is required")
    spec = manifest.get("spec", {})
    head = spec.get("headGroupSpec")
    need(isinstance(head, dict), "spec.headGroupSpec is required")
    groups = [("headGroupSpec", head or {})] + [
        (f"workerGroupSpecs[{i}]", w) for i, w in enumerate(spec.get("workerGroupSpecs", []))
    ]
    for where, group in groups:
        need(isinstance(group.get("rayStartParams"), dict), f"{where}.rayStartParams must be a map")
        need(
            all(isinstance(v, str) for v in (group.get("rayStartParams") or {}).values()),
            f"{where}.rayStartParams values must be strings",
        )
        containers = group.get("template", {}).get("spec", {}).get("containers")
        need(
            isinstance(containers, list) and len(containers) >= 1,
            f"{where}.template.spec.containers needs a container",
        )
        for c in containers or []:
            need(bool(c.get("name")) and bool(c.get("image")), f"{where} containers need name and image")
    for i, w in enumerate(spec.get("workerGroupSpecs", [])):
        need(bool(w.get("groupName")), f"workerGroupSpecs[{i}].groupName is required")
        lo, n, hi = w.get("minReplicas", 0), w.get("replicas", 0), w.get("maxReplicas", 2**31)
        need(
            all(isinstance(x, int) and x >= 0 for x in (lo, n, hi)),
            f"workerGroupSpecs[{i}] replica counts are ints >= 0",
        )
        need(
            lo <= n <= hi if all(isinstance(x, int) for x in (lo, n, hi)) else False,
            f"workerGroupSpecs[{i}] needs minReplicas <= replicas <= maxReplicas",
        )
    if problems:
        raise ManifestError("; ".join(problems))


IMAGE_ROS = "ghcr.io/auraison/ray-ros-jazzy:2.60.0-gpu"
IMAGE_TORCH = f"rayproject/ray-ml:{RAY_VERSION}-py311-gpu"

CLUSTERS: dict[str, RayClusterSpec] = {
    "ros-dev-gpu": RayClusterSpec(
        name="ros-dev-gpu",
        labels={"auraison.io/plane": "user"},
        head=NodeGroup(name="head", image=IMAGE_ROS, cpu="4", memory="16Gi"),
        workers=[
            NodeGroup(
                name="sim",
                image=IMAGE_ROS,
                cpu="8",
                memory="32Gi",
                gpus=1,
                replicas=1,
                max_replicas=4,
                node_selector={"nvidia.com/gpu.present": "true"},
            ),
        ],
    ),
    "torch-dev-gpu": RayClusterSpec(
        name="torch-dev-gpu",
        labels={"auraison.io/plane": "control"},
        head=NodeGroup(name="head", image=IMAGE_TORCH, cpu="4", memory="16Gi"),
        workers=[
            NodeGroup(
                name="gpu",
                image=IMAGE_TORCH,
                cpu="16",
                memory="64Gi",
                gpus=4,
                replicas=1,
                max_replicas=8,
                node_selector={"nvidia.com/gpu.present": "true"},
            ),
            NodeGroup(name="cpu", image=IMAGE_TORCH, cpu="8", memory="32Gi", replicas=0, max_replicas=16),
        ],
    ),
}


def to_yaml(manifest: dict[str, Any]) -> str:
    validate(manifest)
    return (
        "# Rendered by `auraison control manifests` from auraison.mcp_servers.cluster.kuberay; do not edit.\n"
        + yaml.safe_dump(manifest, sort_keys=False)
    )


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, spec in CLUSTERS.items():
        path = folder / f"{name}.yaml"
        path.write_text(to_yaml(render(spec)))
        out.append(path)
    return out
