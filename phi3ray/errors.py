"""Every error a user can fix: each message says what went wrong and where.

Each class survives ``pickle`` whatever its constructor takes, so an error raised in a Ray worker,
actor or Serve replica reaches the driver as the same class with the same message and fields
(Ray pickles exceptions; the default ``Exception.__reduce__`` calls ``cls(*args)``, which fails for a
constructor with other arguments than the message).
"""


def _restore(cls: type, args: tuple, state: dict) -> "Phi3RayError":
    """Rebuild a pickled error without calling its constructor: same class, args and fields."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class Phi3RayError(Exception):
    """Base for errors the user can fix; the message names the file:line or the setting."""

    def __reduce__(self):
        return _restore, (type(self), self.args, self.__dict__)


class ConfigValueError(Phi3RayError):
    def __init__(self, key: str, value: object, why: str):
        self.key, self.value = key, value
        super().__init__(f"{key}={value!r}: {why}")


class ConfigError(Phi3RayError):
    """Several config problems, reported at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid config:\n  " + "\n  ".join(problems))


class DataFormatError(Phi3RayError):
    def __init__(self, path: str, line: int, why: str):
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {why}")


class DataErrors(Phi3RayError):
    """Every bad row of a data file, collected and raised once."""

    def __init__(self, errors: list[DataFormatError]):
        self.errors = errors
        shown = "\n  ".join(str(e) for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} bad data row(s):\n  {shown}{more}")


class ModelLoadError(Phi3RayError):
    def __init__(self, name_or_path: str, why: str):
        self.name_or_path, self.why = name_or_path, why
        super().__init__(f"cannot load model {name_or_path!r}: {why}")


class AdapterRefusedError(Phi3RayError):
    """An adapter that cannot be served on this base: another base model or revision, a rank above the server's
    limit, targets the base lacks, or weights of other shapes (a 400 at load time, naming why)."""

    def __init__(self, name: str, uri: str, why: str):
        self.name, self.uri, self.why = name, uri, why
        super().__init__(f"adapter {name!r} ({uri}) cannot be served here: {why}")


class UnknownAdapterError(Phi3RayError):
    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown model {name!r}; available: {', '.join(sorted(known))}")


class WeaviateUnavailableError(Phi3RayError):
    def __init__(self, where: str, why: str):
        self.where, self.why = where, why
        super().__init__(f"Weaviate at {where} is unreachable: {why}")


class SchemaMismatchError(Phi3RayError):
    def __init__(self, collection: str, why: str):
        self.collection, self.why = collection, why
        super().__init__(f"Weaviate collection {collection!r} does not match this config: {why}")


class CheckpointError(Phi3RayError):
    def __init__(self, path: str, why: str):
        self.path, self.why = path, why
        super().__init__(f"checkpoint {path}: {why}")


class HardwareError(Phi3RayError):
    """The config asks for hardware this machine lacks (e.g. QLoRA without CUDA)."""


class LeakageError(Phi3RayError):
    """Held-out questions also appear in the training data (each overlap as file:line)."""

    def __init__(self, overlaps: list[str]):
        self.overlaps = overlaps
        shown = "\n  ".join(overlaps[:20])
        more = f"\n  ... and {len(overlaps) - 20} more" if len(overlaps) > 20 else ""
        super().__init__(
            f"{len(overlaps)} held-out question(s) also appear in the training data:\n  {shown}{more}\n"
            "remove them from one side, or set allow_leakage=true to evaluate anyway"
        )


class PromotionGateError(Phi3RayError):
    """The adapter did not beat the base by the required margin; the run folder is still written."""

    def __init__(self, failures: list[str], report: str):
        self.failures, self.report = failures, report
        super().__init__("promotion gate failed:\n  " + "\n  ".join(failures) + f"\nreport: {report}")


class DocumentReadError(Phi3RayError):
    """A document that cannot be read or parsed; ingestion reports it and goes on."""

    def __init__(self, path: str, why: str):
        self.path, self.why = path, why
        super().__init__(f"{path}: {why}")


class UnreadableDocumentsError(Phi3RayError):
    """Documents that could not be read (data.on_error=raise); everything readable was written."""

    def __init__(self, unreadable: list[str], written: int):
        self.unreadable, self.written = unreadable, written
        shown = "\n  ".join(unreadable[:20])
        more = f"\n  ... and {len(unreadable) - 20} more" if len(unreadable) > 20 else ""
        super().__init__(
            f"{len(unreadable)} document(s) could not be read ({written} chunk(s) of the others written):\n  {shown}{more}\n"
            "fix or remove them, or set data.on_error=skip to report them and exit 0"
        )


class CollectionMissingError(Phi3RayError):
    def __init__(self, collection: str, where: str):
        self.collection, self.where = collection, where
        super().__init__(
            f"Weaviate at {where} has no collection {collection!r}; "
            f"ingest documents first: python jobs/ingest.py retriever.collection={collection}"
        )


class EmptyCollectionError(Phi3RayError):
    def __init__(self, collection: str, where: str):
        self.collection, self.where = collection, where
        super().__init__(
            f"Weaviate collection {collection!r} at {where} holds no chunks; "
            f"ingest documents first: python jobs/ingest.py retriever.collection={collection}"
        )


class IngestWriteError(Phi3RayError):
    """Chunks Weaviate refused during a batch import (each with its source); the rest were written."""

    def __init__(self, failures: list[str], written: int):
        self.failures, self.written = failures, written
        shown = "\n  ".join(failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(f"{len(failures)} chunk(s) failed to write ({written} written):\n  {shown}{more}")


class PromptError(Phi3RayError):
    """A chat request that cannot be turned into a RAG prompt (e.g. no user turn)."""


class TrainingRunError(Phi3RayError):
    """A training run failed on its workers; its checkpoints stay in the run folder and it can be resumed."""

    def __init__(self, run_name: str, run_dir: str, why: str):
        self.run_name, self.run_dir = run_name, run_dir
        super().__init__(
            f"training run {run_name!r} failed: {why}\n"
            f"its checkpoints are in {run_dir}; continue it with run.name={run_name} training.resume=true"
        )


class RequestError(Phi3RayError):
    """A request the server refuses, with its HTTP status and OpenAI error fields; crosses Ray intact.

    Its args are exactly the constructor's, so it pickles from a replica back to the ingress.
    """

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param=None, code=None,
                 retry_after: int | None = None):
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.retry_after = retry_after  # seconds, sent as Retry-After (a 429 or 503 the client may retry)
        super().__init__(status, message, kind, param, code, retry_after)

    def __str__(self) -> str:
        return self.message


class TrackingUnavailableError(Phi3RayError):
    """The MLflow tracking server named by tracking.uri does not answer."""

    def __init__(self, uri: str, why: str):
        self.uri, self.why = uri, why
        super().__init__(f"MLflow at {uri} is unreachable: {why}; start it, fix tracking.uri, "
                         "or set tracking.enabled=false")


class RegistryError(Phi3RayError):
    """A models:/ adapter the registry cannot give: unknown model, alias or version, or another base."""

    def __init__(self, uri: str, why: str):
        self.uri, self.why = uri, why
        super().__init__(f"adapter {uri}: {why}")
