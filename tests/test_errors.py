"""Every phi3ray error crosses pickle and a Ray task boundary with its class, message and fields intact.

The classes are found by introspection, so a new error class is covered without editing this file.
"""

from __future__ import annotations

import inspect
import pickle
import typing

import pytest

import phi3ray.errors as errors_module
from phi3ray.errors import DataFormatError, Phi3RayError

ERROR_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(errors_module, inspect.isclass) if issubclass(cls, Phi3RayError)),
    key=lambda cls: cls.__name__,
)

# One sample value per constructor parameter type, as the annotations name them (strings: `from __future__`).
SAMPLES = {
    "str": "data/pumps/train.jsonl",
    "int": 7,
    "object": {"nested": [1, 2]},
    "list[str]": ["first problem", "second problem"],
    "list[DataFormatError]": [DataFormatError("a.jsonl", 3, "no 'answer'"), DataFormatError("a.jsonl", 9, "not JSON")],
}


def type_name(annotation) -> str:
    """'list[str]' for list[str] (or its string form), 'str' for str."""
    if isinstance(annotation, str):
        return annotation
    args = typing.get_args(annotation)
    if args:
        return f"{typing.get_origin(annotation).__name__}[{', '.join(type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def make(cls: type[Phi3RayError]) -> Phi3RayError:
    """An instance of cls built from sample values for each of its constructor's parameters."""
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    if [p.kind for p in params] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        return cls(f"{cls.__name__}: something the user can fix")  # Exception's own constructor: a message
    kwargs = {}
    for p in params:
        if p.default is not inspect.Parameter.empty:
            continue
        annotation = type_name(p.annotation)
        assert annotation in SAMPLES, f"{cls.__name__}({p.name}: {annotation}): add a sample value to SAMPLES"
        kwargs[p.name] = SAMPLES[annotation]
    return cls(**kwargs)


def fields(err: BaseException) -> dict:
    return {k: str(v) for k, v in vars(err).items()}


@pytest.mark.fast
def test_every_class_is_found():
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"ModelLoadError", "DataErrors", "RequestError", "TrainingRunError", "HardwareError"} <= names


@pytest.mark.fast
@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_pickle_round_trip(cls):
    original = make(cls)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original)
    assert copy.args == original.args
    assert fields(copy) == fields(original)


def _raise(cls_name: str):
    raise make(getattr(errors_module, cls_name))


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_crosses_a_ray_task(ray_session, cls):
    ray = ray_session
    task = ray.remote(num_cpus=0)(_raise)
    with pytest.raises(cls) as caught:
        ray.get(task.remote(cls.__name__))
    cause = caught.value.cause  # Ray's RayTaskError(cls) carries the worker's exception as .cause
    expected = make(cls)
    assert type(cause) is cls
    assert str(cause) == str(expected)
    assert fields(cause) == fields(expected)
