"""Cluster status from Ray, KubeRay manifests, and experiments in the lake."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from PIL import Image

from auraison.errors import UserError
from auraison.identity import Identity
from auraison.mcp_servers.cluster.experiments import Metric
from auraison.mcp_servers.cluster.kuberay import CLUSTERS, ManifestError, render, to_yaml, validate
from auraison.mcp_servers.cluster.service import ControlPlane

REPO = Path(__file__).resolve().parents[3]
ACME = Identity(tenant="acme", role="operator")


def test_cluster_status_reports_nodes_and_resources(plane: ControlPlane) -> None:
    status = plane.cluster_status(ACME, "local")
    assert status.up and len(status.nodes) == 1 and status.nodes[0].is_head
    assert status.total["CPU"] == 2.0 and 0 <= status.used["CPU"] <= 2.0
    assert status.free["CPU"] == status.total["CPU"] - status.used["CPU"]
    assert [c.name for c in plane.cluster_list(ACME)] == ["local"]
    with pytest.raises(UserError, match="no cluster named 'gpu-farm'"):
        plane.cluster_status(ACME, "gpu-farm")


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_kuberay_manifests_on_disk_match_their_specs_and_the_crd(name: str) -> None:
    on_disk = (REPO / "infra" / "kuberay" / f"{name}.yaml").read_text()
    assert on_disk == to_yaml(render(CLUSTERS[name])), "run `auraison control manifests`"
    manifest = yaml.safe_load(on_disk)
    validate(manifest)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    head = manifest["spec"]["headGroupSpec"]
    assert head["template"]["spec"]["containers"][0]["image"]
    gpus = [
        int(g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0))
        for g in manifest["spec"]["workerGroupSpecs"]
    ]
    assert max(gpus) >= 1  # both are GPU clusters
    for group in manifest["spec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert group["rayStartParams"]["num-gpus"] == str(
            group["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0)
        )


def test_manifest_validation_catches_what_kuberay_would_reject() -> None:
    good = render(CLUSTERS["torch-dev-gpu"])
    for breaks, message in (
        (lambda m: m.update(apiVersion="ray.io/v1alpha1"), "apiVersion"),
        (lambda m: m["spec"].pop("headGroupSpec"), "headGroupSpec is required"),
        (
            lambda m: m["spec"]["workerGroupSpecs"][0].update(replicas=99),
            "minReplicas <= replicas <= maxReplicas",
        ),
        (
            lambda m: m["spec"]["workerGroupSpecs"][0]["rayStartParams"].update({"num-gpus": 4}),
            "values must be strings",
        ),
        (
            lambda m: m["spec"]["workerGroupSpecs"][1]["template"]["spec"].update(containers=[]),
            "needs a container",
        ),
    ):
        broken = copy.deepcopy(good)
        breaks(broken)
        with pytest.raises(ManifestError, match=message):
            validate(broken)


def test_experiments_runs_metrics_and_a_comparison_plot(tmp_path: Path, ray_head: str) -> None:
    from tests.integration.cluster.conftest import control_settings

    plane = ControlPlane(control_settings(tmp_path, ray_head), grantor=None)
    exp = plane.experiment_create(ACME, "lr-sweep", {"model": "mlp"})["experiment_id"]
    runs = []
    for lr in (0.1, 0.01):
        run_id = plane.run_start(ACME, exp, {"lr": lr}, None)["run_id"]
        batch = [Metric(key="loss", value=1.0 / (1 + step * lr * 10), step=step) for step in range(50)]
        assert plane.log_metrics(ACME, run_id, batch) == 50  # one batch, one commit
        plane.log_params(ACME, run_id, {"epochs": 50})
        plane.run_end(ACME, run_id, "finished")
        runs.append(run_id)
    with pytest.raises(UserError, match="has ended"):
        plane.log_metrics(ACME, runs[0], [Metric(key="loss", value=0.0, step=99)])
    out = plane.runs_compare(ACME, exp, "loss", plot=True)
    by_run = {r["run_id"]: r for r in out["runs"]}
    assert by_run[runs[0]]["params"] == {"lr": "0.1", "epochs": "50"}
    assert by_run[runs[0]]["last"]["loss"] < by_run[runs[1]]["last"]["loss"]  # the larger lr got further
    assert all(r["status"] == "finished" for r in out["runs"])
    with Image.open(out["plot"]) as img:
        assert img.format == "PNG" and img.size == (800, 480)
        colors = {c for _, c in img.getcolors(maxcolors=100_000)}
        assert (31, 119, 180) in colors and (255, 127, 14) in colors  # one line per run
    with pytest.raises(UserError, match="no experiment"):
        plane.runs_compare(Identity(tenant="globex", role="operator"), exp, "loss")
    plane.experiments.lake.close()
