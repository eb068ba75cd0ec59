"""Every error a user can fix: each message says what went wrong and where."""


class Phi3RayError(Exception):
    """Base for errors the user can fix; the message names the file:line or the setting."""


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
        super().__init__(f"cannot load model {name_or_path!r}: {why}")


class UnknownAdapterError(Phi3RayError):
    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown model {name!r}; available: {', '.join(sorted(known))}")


class WeaviateUnavailableError(Phi3RayError):
    def __init__(self, where: str, why: str):
        self.where = where
        super().__init__(f"Weaviate at {where} is unreachable: {why}")


class SchemaMismatchError(Phi3RayError):
    def __init__(self, collection: str, why: str):
        super().__init__(f"Weaviate collection {collection!r} does not match this config: {why}")


class CheckpointError(Phi3RayError):
    def __init__(self, path: str, why: str):
        super().__init__(f"checkpoint {path}: {why}")


class HardwareError(Phi3RayError):
    """The config asks for hardware this machine lacks (e.g. QLoRA without CUDA)."""
