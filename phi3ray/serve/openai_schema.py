"""HTTP bodies: OpenAI Chat Completions requests and responses, plus phi3ray's `rag` object, `sources` (the ones
the answer cites) and `retrieved` (every one put in the prompt), both of phi3ray.rag.prompt.Source."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from phi3ray.rag.prompt import Source, cited_numbers, last_question, retrieval_query

ROLES = ("system", "user", "assistant")


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: str
    content: str | list[TextPart]
    name: str | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        role = "system" if role == "developer" else role  # OpenAI's newer name for system
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not supported; use one of {', '.join(ROLES)}")
        return role

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class RagOptions(BaseModel):
    """Retrieval for this request; unset fields take the retriever config's values."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    top_k: int | None = Field(default=None, ge=1, le=50)
    alpha: float | None = Field(default=None, ge=0.0, le=1.0)  # 0 = BM25 only, 1 = vector only
    filters: dict[str, str | list[str]] | None = None  # property -> value or any of values
    on_unavailable: Literal["error", "degraded"] | None = None  # Weaviate down: 503 or answer flagged; None = config


class StreamOptions(BaseModel):
    include_usage: bool = False


# OpenAI request fields whose behaviour this server does not have, with the values that ask for nothing (None always
# does): any other value is a 400 naming the field, never a silently different answer
UNSUPPORTED = {
    "tools": ([],), "tool_choice": ("none",), "parallel_tool_calls": (False,), "functions": ([],),
    "function_call": ("none",), "response_format": ({"type": "text"},), "logprobs": (False,), "top_logprobs": (0,),
    "presence_penalty": (0,), "frequency_penalty": (0,), "audio": (), "modalities": (["text"],), "prediction": (),
    "web_search_options": (), "reasoning_effort": (),
}


class ChatRequest(BaseModel):
    """POST /v1/chat/completions. OpenAI's fields (UNSUPPORTED ones only with values that ask for nothing) and `rag`;
    metadata that changes no answer (user, metadata, store, service_tier) is taken and ignored; any other field is
    a 400 ("unrecognized request argument"), as OpenAI answers it, rather than dropped."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)  # newer clients send this instead
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)  # one choice per request
    logit_bias: dict[int, float] | None = None  # token id -> -100..100
    rag: RagOptions | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    tools: Any = None
    tool_choice: Any = None
    parallel_tool_calls: Any = None
    functions: Any = None
    function_call: Any = None
    response_format: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    audio: Any = None
    modalities: Any = None
    prediction: Any = None
    web_search_options: Any = None
    reasoning_effort: Any = None

    @field_validator(*UNSUPPORTED)
    @classmethod
    def _not_supported(cls, value, info):
        if value is not None and value not in UNSUPPORTED[info.field_name]:
            raise ValueError("is not supported by this server; leave it out")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, stop):
        stops = [stop] if isinstance(stop, str) else stop
        if stops is not None and (len(stops) > 4 or any(not s for s in stops)):
            raise ValueError("stop takes up to 4 non-empty strings")
        return stops

    @field_validator("logit_bias")
    @classmethod
    def _bias_range(cls, bias):
        if bias and any(not -100 <= v <= 100 for v in bias.values()):
            raise ValueError("logit_bias values must be between -100 and 100")
        return bias

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def query(self) -> str:
        """The text RAG retrieves for: the recent user turns (phi3ray.rag.prompt.retrieval_query)."""
        return retrieval_query(self.conversation())

    def question(self) -> str:
        """What the sources must answer: the last user turn (phi3ray.rag.prompt.last_question)."""
        return last_question(self.conversation())

    def conversation(self) -> list[dict]:
        return [{"role": m.role, "content": m.text} for m in self.messages]


class ChatResult(BaseModel):
    """What the Generator hands back for one request (before it becomes an OpenAI response)."""

    text: str = ""
    finish_reason: str | None = None  # stop | length | timeout | cancelled; None while streaming
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retrieved: list[Source] = Field(default_factory=list)  # every source the prompt numbered
    sources: list[Source] = Field(default_factory=list)  # those the answer cites (cited_sources), once finished
    replica: str = ""  # the Generator replica that answered (Serve's replica id): the x-phi3ray-replica header


def cited_sources(answer: str, retrieved: list[Source]) -> list[Source]:
    """The sources an answer cites as [n], in order of first citation; numbers no source has are left out."""
    by_number = {source.number: source for source in retrieved}
    return [by_number[number] for number in cited_numbers(answer) if number in by_number]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str = Field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[Source] | None = None  # present when RAG was asked for: the sources the answer cites
    retrieved: list[Source] | None = None  # present when RAG was asked for: every source put in the prompt
    rag: Literal["used", "degraded"] | None = None  # degraded: retrieval failed, answered without sources


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    sources: list[Source] | None = None  # on the last chunk, when RAG was asked for: the sources the answer cites
    retrieved: list[Source] | None = None  # on the last chunk, when RAG was asked for: every source in the prompt
    rag: Literal["used", "degraded"] | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "phi3ray"
    root: str  # the base model's hub id or folder
    parent: str | None = None  # adapters: the base they apply to
    # adapters served from the MLflow registry (models:/<name>@<alias>): which version, and the base it was trained on
    registered_model: str | None = None
    version: str | None = None
    alias: str | None = None
    base_model: str | None = None
    base_revision: str | None = None
    data_sha256: str | None = None  # adapters: a hash of the training data's files, from the adapter's card
    loaded_at_runtime: bool | None = None  # adapters: true when loaded through /v1/load_lora_adapter


class LoadLoraAdapter(BaseModel):
    """POST /v1/load_lora_adapter (vLLM's shape): serve the peft adapter at lora_path (a folder, s3://, gs://)
    as model lora_name; loading a name again reloads it (a retrained adapter written over the same path)."""

    model_config = ConfigDict(extra="forbid")
    lora_name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_:@-]*$")
    lora_path: str = Field(min_length=1)


class UnloadLoraAdapter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lora_name: str = Field(min_length=1)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def describe_validation(err: ValidationError) -> tuple[str, str | None]:
    """The first problem of a pydantic error as (message, param), e.g. ("messages: ...", "messages")."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"] if not str(part).startswith(("function-", "list[")))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "too_short" and where == "messages":
        message = "messages must contain at least one message"
    elif first["type"] == "missing":
        message = f"'{where}' is a required property"
    elif first["type"] == "extra_forbidden":
        message = f"unrecognized request argument supplied: {where}"
    elif where:
        message = f"{where}: {message}"
    return message, where or None
