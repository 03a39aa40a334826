"""Where Ray puts the sweep's workers: one per GPU holding it when the cluster has GPUs, else one per CPU."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from agent.sweep.ray_executor import WorkerPlan, plan_workers  # noqa: E402
from tools.errors import BadInputError  # noqa: E402


def test_cpu_cluster_gets_one_worker_per_cpu_up_to_concurrency() -> None:
    assert plan_workers({"CPU": 8.0}, concurrency=4, device="auto") == WorkerPlan(4, 1, 0, "auto")
    assert plan_workers({"CPU": 2.0}, concurrency=16, device="cpu") == WorkerPlan(2, 1, 0, "cpu")


def test_gpu_cluster_gets_one_subject_per_gpu() -> None:
    plan = plan_workers({"CPU": 32.0, "GPU": 4.0}, concurrency=16, device="auto")
    assert plan == WorkerPlan(workers=4, num_cpus=1, num_gpus=1, device="cuda")
    # Fewer neurons at once than GPUs: no idle subjects loaded.
    assert plan_workers({"CPU": 32.0, "GPU": 4.0}, concurrency=2, device="auto").workers == 2


def test_a_worker_uses_the_gpu_ray_gave_it_whichever_was_named() -> None:
    assert plan_workers({"CPU": 8.0, "GPU": 2.0}, concurrency=8, device="cuda:1").device == "cuda"


def test_cpu_asked_on_a_gpu_cluster_stays_on_cpus() -> None:
    assert plan_workers({"CPU": 8.0, "GPU": 2.0}, concurrency=8, device="cpu") == WorkerPlan(8, 1, 0, "cpu")


def test_cuda_asked_on_a_cluster_without_gpus_is_refused() -> None:
    with pytest.raises(BadInputError, match="no GPUs"):
        plan_workers({"CPU": 8.0}, concurrency=4, device="cuda")
