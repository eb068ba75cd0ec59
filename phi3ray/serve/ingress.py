"""Ingress deployment: the OpenAI-compatible HTTP API in front of the Retriever and the Generator.

Every failure leaves as OpenAI's error shape with a fitting status (400, 401, 404, 503, 504, or 500
with an incident id whose stack trace stays in the Ingress log); no stack trace reaches the client.
"""

# no `from __future__ import annotations` here: FastAPI must see the route annotations as classes
import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator
from starlette.exceptions import HTTPException

from phi3ray.config import ServeConfig
from phi3ray.errors import RequestError
from phi3ray.names import BASE_ADAPTER, adapter_name_problem
from phi3ray.serve.catalog import CatalogView
from phi3ray.serve.openai_schema import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    ChatResult,
    Choice,
    ChunkChoice,
    Delta,
    LoadLoraAdapter,
    ModelCard,
    ModelList,
    RagOptions,
    UnloadLoraAdapter,
    Usage,
    describe_validation,
    error_body,
)

logger = logging.getLogger(__name__)
REPLICA_HEADER = "x-phi3ray-replica"  # the id of the Generator replica that answered

api = FastAPI(
    title="phi3ray", description="Phi-3 + LoRA adapters + RAG, OpenAI-compatible", docs_url=None, redoc_url=None
)


def _error_response(err: RequestError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return JSONResponse(error_body(err.message, err.kind, err.param, err.code), status_code=err.status, headers=headers)


def as_request_error(err: BaseException) -> RequestError | None:
    """The RequestError inside err (Ray wraps a replica's exception), a 503 when the replica died under the
    request (Serve starts another: the client may retry), or None."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, RequestError):
        return cause
    if isinstance(err, RayActorError):
        logger.warning("a replica died while answering: %s", type(err).__name__)
        return RequestError(503, "The model server stopped while answering; it is being restarted. Please retry.",
                            "server_error", code="replica_died", retry_after=5)
    return err if isinstance(err, RequestError) else None


@api.exception_handler(RequestError)
async def _on_request_error(request: Request, err: RequestError) -> JSONResponse:
    return _error_response(as_request_error(err) or err)


@api.exception_handler(RequestValidationError)
async def _on_validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    return JSONResponse(error_body("invalid request: " + str(err.errors()[0].get("msg")), "invalid_request_error"), 400)


@api.exception_handler(HTTPException)
async def _on_http_error(request: Request, err: HTTPException) -> JSONResponse:
    message = f"{request.method} {request.url.path}: {err.detail}"
    return JSONResponse(error_body(message, "invalid_request_error"), status_code=err.status_code)


@api.middleware("http")
async def _no_stack_traces(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception as err:  # the last line of defence: log the trace, answer with an incident id
        wrapped = as_request_error(err)
        if wrapped is not None:
            return _error_response(wrapped)
        incident = uuid.uuid4().hex[:12]
        logger.exception("incident %s on %s %s", incident, request.method, request.url.path)
        message = f"internal error (incident {incident}); the server log has the details"
        return JSONResponse(error_body(message, "server_error"), status_code=500)


async def _parse(request: Request, schema=ChatRequest):
    body = await request.body()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError(400, "We could not parse the JSON body of your request. It must be valid JSON.") from None
    if not isinstance(data, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        message, param = describe_validation(err)
        raise RequestError(400, message, param=param) from None


def _replica_header(result: ChatResult) -> dict[str, str]:
    """Which Generator replica answered: for operators following a request across replicas and nodes."""
    return {REPLICA_HEADER: result.replica} if result.replica else {}


def _usage(result: ChatResult) -> Usage:
    return Usage(
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        total_tokens=result.prompt_tokens + result.completion_tokens,
    )


def _rag_fields(result: ChatResult, rag: str | None) -> dict:
    """The answer's RAG fields: sources (cited) and retrieved (in the prompt); both [] when retrieval degraded."""
    if rag is None:
        return {}
    used = rag == "used"
    return {"sources": result.sources if used else [], "retrieved": result.retrieved if used else [], "rag": rag}


def _timeout(seconds: float) -> RequestError:
    return RequestError(504, f"The request timed out after {seconds:g} s.", "timeout_error", code="timeout")


# helpers live above the class: serve.ingress snapshots the module's functions when the class is decorated
@serve.deployment
@serve.ingress(api)
class Ingress:
    def __init__(self, retriever: DeploymentHandle, generator: DeploymentHandle, cfg: ServeConfig,
                 catalog: DeploymentHandle | None = None):
        self.retriever = retriever
        self.generator = generator
        self.cfg = cfg
        self.catalog = catalog  # adapters loaded at run time (phi3ray.serve.catalog); None: config only
        self.runtime = CatalogView("", 0, {})
        self._runtime_checked = 0.0
        self.created = int(time.time())

    @api.get("/health")
    async def health(self) -> dict:
        """Liveness (always 200 while serving) and whether Weaviate answers."""
        try:
            ready = await asyncio.wait_for(self.retriever.ready.remote(), timeout=5)
        except Exception:  # a slow or failed check reads as unavailable, it is not an error of /health
            ready = False
        try:
            await asyncio.wait_for(self._refresh_runtime(), timeout=5)
        except Exception:  # the catalog restarting: the names known so far
            pass
        return {"status": "ok", "models": self._model_ids(), "retriever": "ok" if ready else "unavailable"}

    @api.get("/v1/models")
    async def models(self, request: Request) -> JSONResponse:
        self._authorize(request)
        await self._refresh_runtime(force=True)
        shown = await self.generator.models.remote()
        cards = [self._card(m, shown.get(m)) for m in self._model_ids()]
        return JSONResponse(ModelList(data=cards).model_dump(exclude_none=True))

    @api.get("/v1/models/{model_id}")
    async def model(self, model_id: str, request: Request) -> JSONResponse:
        self._authorize(request)
        await self._adapter(model_id)
        shown = await self.generator.models.remote()
        return JSONResponse(self._card(model_id, shown.get(model_id)).model_dump(exclude_none=True))

    @api.post("/v1/load_lora_adapter")
    async def load_lora_adapter(self, request: Request) -> JSONResponse:
        """Serve another adapter (or a retrained one again) without a restart: admin key only. One Generator
        replica fetches it, checks that it fits and installs it; the catalog tells the others."""
        self._authorize_admin(request)
        body = await _parse(request, LoadLoraAdapter)
        name = body.lora_name
        if (why := adapter_name_problem(name, (self.cfg.base_name, self.cfg.model.name))) is not None:
            raise RequestError(400, f"lora_name {name!r}: {why}", param="lora_name")
        if name in self.cfg.adapters:
            raise RequestError(400, f"adapter {name!r} is configured in serve.yaml (adapters.{name}); change it "
                               "there, or load this one under another name", param="lora_name")
        adapter = await self.generator.add_adapter.remote(name, body.lora_path)
        self.runtime = await self.catalog.put.remote(name, adapter)
        logger.info("adapter %s loaded at run time from %s", name, body.lora_path)
        return JSONResponse({"object": "lora_adapter", "lora_name": name, "lora_path": body.lora_path,
                             "base_model": adapter.info.get("base_model"), "loaded": True})

    @api.post("/v1/unload_lora_adapter")
    async def unload_lora_adapter(self, request: Request) -> JSONResponse:
        """Stop serving an adapter loaded at run time: new requests for it get a 404; rows in flight finish."""
        self._authorize_admin(request)
        body = await _parse(request, UnloadLoraAdapter)
        name = body.lora_name
        if name in self.cfg.adapters:
            raise RequestError(400, f"adapter {name!r} is configured in serve.yaml; remove it there",
                               param="lora_name")
        await self._refresh_runtime(force=True)
        if name not in self.runtime.adapters:
            raise RequestError(404, f"no adapter {name!r} was loaded at run time", param="lora_name",
                               code="model_not_found")
        self.runtime = await self.catalog.remove.remote(name)
        logger.info("adapter %s unloaded at run time", name)
        return JSONResponse({"object": "lora_adapter", "lora_name": name, "loaded": False})

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request):
        self._authorize(request)
        chat = await _parse(request)
        adapter = await self._adapter(chat.model)
        asked = chat.requested_max_tokens
        if asked is not None and asked > self.cfg.max_tokens_cap:
            raise RequestError(
                400,
                f"max_tokens is too large: {asked}. This server allows at most {self.cfg.max_tokens_cap}.",
                param="max_tokens",
                code="invalid_value",
            )
        timeout = self.cfg.request_timeout_s
        deadline = time.time() + timeout
        stream = None
        try:
            async with asyncio.timeout(timeout):
                chunks, rag = await self._retrieve(chat)
                if chat.stream:
                    stream = self.generator.options(stream=True).stream.remote(chat, adapter, chunks, deadline)
                    head = await stream.__anext__()  # errors (e.g. a prompt too long) still get their status
                else:
                    result = await self.generator.complete.remote(chat, adapter, chunks, deadline)
        except BaseException as err:
            if stream is not None:
                stream.cancel()
            if isinstance(err, TimeoutError):
                raise _timeout(timeout) from None
            raise
        if chat.stream:
            return StreamingResponse(self._sse(chat, stream, head, rag, deadline), media_type="text/event-stream",
                                     headers=_replica_header(head))
        if result.finish_reason == "timeout":
            raise _timeout(timeout)
        completion = ChatCompletion(
            model=chat.model,
            choices=[Choice(message=AssistantMessage(content=result.text), finish_reason=result.finish_reason)],
            usage=_usage(result),
            **_rag_fields(result, rag),
        )
        return JSONResponse(completion.model_dump(exclude_none=True), headers=_replica_header(result))

    async def _retrieve(self, chat: ChatRequest) -> tuple[list | None, str | None]:
        """Chunks for RAG and the rag flag ("used" | "degraded"), or (None, None) without RAG."""
        options = chat.rag if chat.rag is not None else (RagOptions() if self.cfg.rag_default else None)
        if options is None or not options.enabled:
            return None, None
        query = chat.query()
        if not query.strip():
            raise RequestError(400, "RAG needs a user message to search with", param="messages")
        try:
            chunks = await self.retriever.search.remote(
                query, options.top_k, options.alpha, options.filters, chat.question()
            )
        except Exception as err:
            wrapped = as_request_error(err)
            if wrapped is None:
                raise
            if wrapped.status == 503 and (options.on_unavailable or self.cfg.rag_unavailable) == "degraded":
                logger.warning("answering without RAG (rag_unavailable=degraded): %s", wrapped.message)
                return None, "degraded"
            raise wrapped from None
        return chunks, "used"

    async def _sse(
        self, chat: ChatRequest, stream: DeploymentResponseGenerator, head: ChatResult, rag: str | None, deadline: float
    ) -> AsyncIterator[str]:
        """Server-sent events: a role chunk, content chunks, a finish chunk (+ RAG fields), usage if asked, [DONE]."""
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def event(choices: list[ChunkChoice], **extra) -> str:
            chunk = ChatCompletionChunk(id=cid, created=created, model=chat.model, choices=choices, **extra)
            return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

        final = head
        try:
            yield event([ChunkChoice(delta=Delta(role="assistant", content=""))])
            while True:
                try:
                    item = await asyncio.wait_for(stream.__anext__(), timeout=max(deadline - time.time(), 0) + 5)
                except StopAsyncIteration:
                    break
                if isinstance(item, str):
                    yield event([ChunkChoice(delta=Delta(content=item))])
                else:
                    final = item
            if final.finish_reason in (None, "timeout"):
                raise _timeout(self.cfg.request_timeout_s)
            yield event([ChunkChoice(delta=Delta(), finish_reason=final.finish_reason)], **_rag_fields(final, rag))
            if chat.stream_options is not None and chat.stream_options.include_usage:
                yield event([], usage=_usage(final))
        except Exception as err:  # the status line is sent already: the error goes in the stream
            known = as_request_error(err) or (
                _timeout(self.cfg.request_timeout_s) if isinstance(err, TimeoutError) else None
            )
            if known is None:
                incident = uuid.uuid4().hex[:12]
                logger.exception("incident %s while streaming", incident)
                known = RequestError(
                    500, f"internal error (incident {incident}); the server log has the details", "server_error"
                )
            yield f"data: {json.dumps(error_body(known.message, known.kind, known.param, known.code))}\n\n"
        finally:
            stream.cancel()  # the client left or we are done: stop the row in the Generator
        yield "data: [DONE]\n\n"

    def _authorize(self, request: Request) -> None:
        key = self.cfg.api_key
        if not key:
            return
        header = request.headers.get("authorization", "")
        if not header:
            raise RequestError(
                401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code="invalid_api_key"
            )
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise RequestError(401, "Incorrect API key provided.", code="invalid_api_key")

    def _authorize_admin(self, request: Request) -> None:
        key = self.cfg.admin_key
        if not key or self.catalog is None:
            raise RequestError(403, "Loading adapters at run time is off on this server: set admin_key "
                               "(PHI3RAY_ADMIN_KEY) to turn it on.", "permission_error", code="admin_disabled")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise RequestError(401, "This endpoint needs the admin key as 'Authorization: Bearer <admin key>'.",
                               code="invalid_api_key")

    async def _refresh_runtime(self, force: bool = False) -> None:
        """The catalog's adapters, read at most once a second unless forced."""
        if self.catalog is None or (not force and time.monotonic() - self._runtime_checked < 1.0):
            return
        self._runtime_checked = time.monotonic()
        self.runtime = await self.catalog.view.remote()

    async def _adapter(self, model: str) -> str:
        """The peft adapter name for a request's `model` (BASE_ADAPTER for the base); 404 if unknown."""
        if model in (self.cfg.base_name, self.cfg.model.name):
            return BASE_ADAPTER
        if model in self.cfg.adapters:
            return model
        await self._refresh_runtime(force=model not in self.runtime.adapters)
        if model in self.runtime.adapters:
            return model
        raise RequestError(
            404,
            f"The model '{model}' does not exist. Available: {', '.join(self._model_ids())}.",
            param="model",
            code="model_not_found",
        )

    def _model_ids(self) -> list[str]:
        return [self.cfg.base_name, *self.cfg.adapters, *(n for n in self.runtime.adapters if n not in self.cfg.adapters)]

    def _card(self, model_id: str, shown: dict | None = None) -> ModelCard:
        """The base, or an adapter with what the Generator knows of it (its card's base, revision, data hash)."""
        if model_id in (self.cfg.base_name, self.cfg.model.name):
            return ModelCard(id=model_id, created=self.created, root=self.cfg.model.name_or_path,
                             base_model=self.cfg.model.name, base_revision=self.cfg.model.revision)
        shown = dict(shown or {})
        loaded = self.runtime.adapters.get(model_id)
        runtime = loaded is not None and model_id not in self.cfg.adapters
        root = shown.pop("root", None) or self.cfg.adapters.get(model_id) or (loaded.uri if loaded else "")
        return ModelCard(id=model_id, created=self.created, root=root, parent=self.cfg.base_name,
                         loaded_at_runtime=runtime or None, **shown)
