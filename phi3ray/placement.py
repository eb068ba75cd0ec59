"""Custom Ray resources that pin work to the nodes having them (`ray start --resources='{"a100": 1}'`,
accelerator_type:A100 on a cloud cluster): the options that ask for them, and how many actors they leave room for."""

from __future__ import annotations

import math


def resource_options(custom: dict[str, float]) -> dict:
    """The `resources` option of ray.remote / Ray Data / a Serve replica for these custom resources (none: {})."""
    return {"resources": dict(custom)} if custom else {}


def room_for(custom: dict[str, float], cluster: dict[str, float]) -> int | None:
    """How many actors asking for `custom` each the cluster's totals hold (None: they ask for none)."""
    if not custom:
        return None
    return min(math.floor(cluster.get(name, 0) / amount + 1e-9) for name, amount in custom.items())
