"""The REST service: FastAPI on uvicorn, one bundle in memory, every prediction logged.

- The request body is checked for shape by a pydantic model generated from the dataset schema
  (JSON scalars only, unknown fields rejected); the schema's rules run in the bundle's
  RowValidator, so a bad field gets a 422 naming the field and the rule.
- The bundle is loaded once (lifespan), and swapped without a restart when the registry's
  `champion` alias moves: requests in flight finish on the bundle they started with.
"""

import gc
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Optional, Union

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from loopline.bundle import Bundle
from loopline.predlog import PredictionLog
from loopline.schemas import TableSchema
from loopline.serving.history import HistoryFollower, restore
from loopline.serving.registry import Resolved, champion_version, resolve

log = logging.getLogger(__name__)

Scalar = Optional[Union[StrictBool, StrictInt, StrictFloat, StrictStr]]
MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 1_000


@dataclass
class Settings:
    """How the service finds its model and where it logs."""

    model: str = "champion"  # champion | NAME/VERSION | a bundle folder
    dataset: str = "loans"
    cache_dir: Path = Path(".loopline/models")
    log_dir: Path = Path("data/predictions/loans")
    # published label partitions: the per-customer history follows them (None: not followed)
    feedback_dir: Path | None = None
    poll_seconds: float = 5.0  # how often the champion alias is checked; 0 = never


@dataclass
class Loaded:
    bundle: Bundle
    source: Resolved
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    follower: HistoryFollower | None = None  # keeps the history up to date while serving


class ModelHolder:
    """The serving bundle; `swap` replaces it atomically (one reference assignment)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current: Loaded | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def load(self, source: str | None = None) -> Loaded:
        """Resolve and load a bundle, then make it the current one."""
        resolved = resolve(
            source or self.settings.model,
            dataset=self.settings.dataset,
            cache_dir=self.settings.cache_dir,
        )
        loaded = Loaded(bundle=Bundle.load(resolved.path), source=resolved)
        # what was served and fed back since the bundle was built: a restart or a swap keeps
        # every customer's history (a second pass catches what was logged meanwhile)
        started = datetime.now(UTC) - timedelta(seconds=1)
        settings = self.settings
        loaded.follower = restore(loaded.bundle, settings.log_dir, settings.feedback_dir)
        loaded.follower.read_log(since=started)
        with self._lock:
            self.current = loaded
        # the bundle's ~200k long-lived objects would otherwise be rescanned by every full
        # collection: a ~90 ms pause in the middle of requests
        gc.collect()
        gc.freeze()
        log.info("serving %s (bundle %s)", resolved.label, loaded.bundle.bundle_id)
        return loaded

    def refresh(self) -> bool:
        """Load the champion if the alias moved; return True when the model changed."""
        if self.settings.model != "champion" or self.current is None:
            return False
        name = self.current.source.name
        if name is None or champion_version(name) == self.current.source.version:
            return False
        self.load()
        return True

    def watch(self) -> None:
        """Poll the registry and the feedback folder until stopped (a daemon thread)."""
        while not self._stop.wait(self.settings.poll_seconds):
            try:
                self.refresh()
            except Exception:  # a registry hiccup must not kill the watcher
                log.exception("champion refresh failed; still serving the current model")
            try:
                current = self.current
                if current is not None and current.follower is not None:
                    current.follower.poll()
            except Exception:  # a partition being written must not kill the watcher
                log.exception("reading fed-back labels failed; will retry")

    def stop(self) -> None:
        self._stop.set()


def request_model(schema: TableSchema, ignored: tuple[str, ...] = ()) -> type[BaseModel]:
    """Return the pydantic model of one application: schema columns as optional JSON scalars.

    `ignored` fields (the label: an outcome, not an input) are accepted and never used.
    """
    fields: dict[str, Any] = {rule.name: (Scalar, Field(default=None)) for rule in schema.columns}
    for name in ignored:
        fields.setdefault(
            name, (Scalar, Field(default=None, description="ignored: a label is not an input"))
        )
    return create_model(
        "Application",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def example_record(schema: TableSchema) -> dict[str, Any]:
    """Return a plausible application for the OpenAPI page, derived from the schema's rules."""
    record: dict[str, Any] = {}
    for rule in schema.columns:
        if rule.allowed:
            value: Any = rule.allowed[0]
        elif rule.dtype == "datetime":
            value = "2024-11-02T14:05:00"
        elif rule.is_numeric:
            low = rule.min if rule.min is not None else 0
            high = rule.max if rule.max is not None else low + 100
            value = round(low + (high - low) * 0.3, 2)
            value = int(value) if rule.dtype == "int" else value
        else:
            value = f"{rule.name}-1"
        record[rule.name] = value
    return record


class Prediction(BaseModel):
    request_id: str
    application_id: Optional[str] = None
    score: float
    decision: str
    decided_by: str
    reason_codes: list[str]
    model_version: str
    bundle_id: str


class BodyLimit:
    """Refuse bodies over `max_bytes` with a 413, declared or streamed (pure ASGI: no overhead
    of Starlette's BaseHTTPMiddleware on every request)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLargeError:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = _error(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class BodyTooLargeError(Exception):
    """A streamed body went over the limit."""


def _rule_errors(index: int, reasons: list[str]) -> list[dict[str, Any]]:
    """Return the 422 body's entries for one item's broken `column:rule` names."""
    out = []
    for reason in reasons:
        column, rule = reason.split(":", 1)
        out.append(
            {
                "index": index,
                "field": column,
                "rule": rule,
                "message": f"{column} breaks rule {rule}",
            }
        )
    return out


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message, "errors": errors or []})


def create_app(settings: Settings, holder: ModelHolder | None = None) -> FastAPI:
    """Return the application; the bundle is loaded at startup, not at import."""
    holder = holder or ModelHolder(settings)
    if holder.current is None:
        holder.load()
    schema = holder.current.bundle.schema
    application = request_model(schema, ignored=(holder.current.bundle.dataset.target,))
    example = example_record(schema)
    prediction_log = PredictionLog(settings.log_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = None
        if settings.poll_seconds > 0:
            watcher = threading.Thread(target=holder.watch, name="champion-watch", daemon=True)
            watcher.start()
        yield
        holder.stop()
        prediction_log.close()

    app = FastAPI(
        title="Loopline scoring service",
        version="1",
        lifespan=lifespan,
        description="Scores loan applications: score, decision, reason codes, model version.",
    )
    app.state.holder = holder

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal error; the request was not scored")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        if holder.current is None:
            return _error(503, "no model loaded")
        return JSONResponse({"status": "ready", "model_version": holder.current.source.label})

    @app.get("/model")
    async def model_info() -> dict[str, Any]:
        current = holder.current
        return {
            "name": current.source.name,
            "version": current.source.version,
            "model_version": current.source.label,
            "loaded_at": current.loaded_at,
            **current.bundle.info(),
            "training_run": current.source.run_id,
        }

    @app.post("/admin/reload")
    async def reload() -> dict[str, Any]:
        # loading a bundle takes a second or two: off the event loop, so requests keep flowing
        changed = await run_in_threadpool(holder.refresh)
        return {"changed": changed, "model_version": holder.current.source.label}

    @app.post(
        "/predict",
        response_model=list[Prediction],
        openapi_extra={
            "requestBody": {
                "content": {"application/json": {"examples": {"one": {"value": example}}}}
            }
        },
    )
    async def predict(
        body: Union[application, list[application]],  # type: ignore[valid-type]
        request: Request,
    ) -> Any:
        items = body if isinstance(body, list) else [body]
        if len(items) > MAX_BATCH:
            return _error(413, f"at most {MAX_BATCH} applications per request")
        current = holder.current  # one bundle for the whole request, even during a swap
        bundle = current.bundle
        base_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        ignored = bundle.dataset.target  # a label is an outcome, not an input: never logged
        records = [{k: v for k, v in i.model_dump().items() if k != ignored} for i in items]
        # every item is checked before any is scored: a rejected request changes nothing (no
        # item of it enters the per-customer history, none is logged)
        checked = [bundle.check_record(record) for record in records]
        errors = [e for i, (_, broken) in enumerate(checked) for e in _rule_errors(i, broken)]
        if errors:
            return _error(422, "the application breaks the schema's rules", errors)
        # in order: a later item of a customer sees the earlier ones in its history features
        scored = [bundle.score_checked(values) for values, _ in checked]
        id_column = bundle.dataset.id_column
        now = datetime.now(UTC).isoformat()
        out = []
        for index, (record, result) in enumerate(zip(records, scored, strict=True)):
            request_id = base_id if len(records) == 1 else f"{base_id}-{index}"
            prediction = {
                "request_id": request_id,
                "application_id": record.get(id_column) if id_column else None,
                "score": result["score"],
                "decision": result["decision"],
                "decided_by": result["decided_by"],
                "reason_codes": result["reasons"],
                "model_version": current.source.label,
                "bundle_id": bundle.bundle_id,
            }
            prediction_log.append(
                {
                    "request_id": request_id,
                    "logged_at": now,
                    "source": "rest",
                    "model_version": current.source.label,
                    "bundle_id": bundle.bundle_id,
                    "score": result["score"],
                    "decision": result["decision"],
                    "reasons": result["reasons"],
                    "input": record,
                    "features": result["features"],
                }
            )
            out.append(prediction)
        return JSONResponse(out)

    return app


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service on uvicorn (one worker; binds to loopback unless told otherwise)."""
    import uvicorn

    started = time.perf_counter()
    app = create_app(settings)
    log.info("model loaded in %.1f s", time.perf_counter() - started)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
