"""Custom Ray resources: the options that ask for them and how many actors they leave room for."""

import pytest

from phi3ray.placement import resource_options, room_for

pytestmark = pytest.mark.fast


def test_custom_resources_become_the_resources_option_and_bound_the_actor_count():
    assert resource_options({}) == {}
    assert resource_options({"worker": 1}) == {"resources": {"worker": 1}}
    assert room_for({}, {"CPU": 8}) is None  # nothing pinned: the CPUs and GPUs decide
    assert room_for({"worker": 1}, {"CPU": 8, "worker": 2}) == 2
    assert room_for({"worker": 0.1}, {"worker": 0.3}) == 3  # no float rounding down to 2
    assert room_for({"worker": 1, "a100": 1}, {"worker": 2, "a100": 1}) == 1
    assert room_for({"worker": 1}, {"CPU": 8}) == 0  # no node has it (yet)
