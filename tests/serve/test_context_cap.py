"""GPU and context choices from the config: a served request's context capped below the model's maximum
(max_context_tokens: the KV cache budget), a GPU Generator that refuses the CPU, evaluation actors' GPUs."""

import types

import pytest

from phi3ray.config import context_limit, load_config
from phi3ray.errors import ConfigValueError, HardwareError
from phi3ray.serve.generator import Generator, RequestError
from phi3ray.serve.openai_schema import ChatRequest

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model


def test_a_128k_model_is_served_with_the_capped_context():
    cfg = load_config("serve", ["model=phi3-mini-128k"])
    assert cfg.model.context_length == 131072
    assert context_limit(cfg) == cfg.max_context_tokens == 16384
    assert context_limit(load_config("serve", ["model=tiny"])) == 1024  # a smaller model keeps its own
    with pytest.raises(ConfigValueError, match="max_context_tokens=0: must be > 0"):
        load_config("serve", ["max_context_tokens=0"])


def test_a_request_over_the_cap_gets_a_one_line_400():
    cfg = load_config("serve", ["model=phi3-mini-128k", "max_context_tokens=2048"])
    replica = types.SimpleNamespace(cfg=cfg, vocab_size=32064)  # _sampling reads only these
    request = ChatRequest(model="phi3", messages=[{"role": "user", "content": "hi"}], max_tokens=100)
    Generator.func_or_class._sampling(replica, request, 1900)  # 2000 tokens: fits
    with pytest.raises(RequestError) as info:
        Generator.func_or_class._sampling(replica, request, 2000)
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
    assert "maximum context length is 2048 tokens" in str(info.value) and "\n" not in str(info.value)


def test_a_gpu_generator_without_cuda_refuses_to_start_on_the_cpu():
    cfg = load_config("serve", ["model=tiny", "deployments.generator.num_gpus=1"])
    with pytest.raises(HardwareError, match="deployments.generator.num_gpus=1.0 but this replica sees no CUDA device"):
        Generator.func_or_class(cfg)


def test_evaluation_actors_ask_for_a_gpu_from_the_config():
    from phi3ray.eval.runner import actor_resources

    assert actor_resources(load_config("evaluate", ["model=tiny"])) == {"num_cpus": 1, "num_gpus": 0}
    assert actor_resources(load_config("evaluate", ["model=tiny", "use_gpu=true"])) == {"num_cpus": 1, "num_gpus": 1}
    pinned = load_config("evaluate", ["model=tiny", "+actor_resources.gpu_node=1"])
    assert actor_resources(pinned) == {"num_cpus": 1, "num_gpus": 0, "resources": {"gpu_node": 1.0}}


def test_the_generator_asks_for_the_gpus_its_model_needs():
    from phi3ray.serve.app import deployment_options

    def gpus(*overrides):
        cfg = load_config("serve", list(overrides))
        return deployment_options(cfg.deployments.generator)["ray_actor_options"]["num_gpus"]

    assert gpus() == 1  # a real Phi-3 serves in bf16 on a GPU, never float32 on a GPU node's CPU
    assert gpus("model=phi3-medium-4k") == 1
    assert gpus("model=tiny") == 0
    assert gpus("model=phi3-mini-4k", "deployments.generator.num_gpus=0.5") == 0.5  # two replicas share one
    assert load_config("serve", ["model=tiny"]).deployments.retriever.num_gpus == 0


def test_an_embedded_weaviate_is_refused_behind_several_retrievers_or_nodes():
    from phi3ray.serve.app import check_retriever_topology

    with pytest.raises(ConfigValueError, match=r"deployments.retriever.num_replicas=2: each Retriever replica would "
                                               r"start its own embedded Weaviate.*use retriever=local\|cloud"):
        load_config("serve", ["model=tiny", "deployments.retriever.num_replicas=2"])
    with pytest.raises(ConfigValueError, match="deployments.retriever.max_replicas=3"):
        load_config("serve", ["model=tiny", "deployments.retriever.autoscaling=true",
                              "deployments.retriever.max_replicas=3"])
    local = load_config("serve", ["model=tiny", "retriever=local", "deployments.retriever.num_replicas=2"])
    check_retriever_topology(local, nodes=3)  # one shared Weaviate: any number of replicas and nodes
    embedded = load_config("serve", ["model=tiny"])
    check_retriever_topology(embedded, nodes=1)
    with pytest.raises(ConfigValueError, match="retriever='embedded': on a Ray cluster of 3 nodes each Retriever"):
        check_retriever_topology(embedded, nodes=3)
