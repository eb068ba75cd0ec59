"""The shared local Ray runs tasks and stays on loopback."""

import pytest


def test_ray_session_runs_tasks_on_loopback(ray_session):
    ray = ray_session

    @ray.remote
    def square(x: int) -> int:
        return x * x

    assert ray.get([square.remote(i) for i in range(4)]) == [0, 1, 4, 9]
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    assert ray.cluster_resources()["CPU"] == pytest.approx(2)
