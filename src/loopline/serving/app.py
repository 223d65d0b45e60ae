"""The REST service: FastAPI on uvicorn, one bundle in memory, every prediction logged.

- The request body is checked for shape by a pydantic model generated from the dataset schema
  (JSON scalars only, unknown fields rejected); the schema's rules run in the bundle's
  RowValidator, so a bad field gets a 422 naming the field and the rule.
- The bundle is loaded once (lifespan), and swapped without a restart when the registry's
  `champion` alias moves: requests in flight finish on the bundle they started with.
"""

import gc
import hmac
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    create_model,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopline.bundle import Bundle
from loopline.io.predlog import PredictionLog
from loopline.io.registry import Resolved, champion_version, resolve
from loopline.schemas import ColumnRule, TableSchema
from loopline.serving.history import HistoryFollower, restore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 1_000
MAX_STRING = 256  # characters in any string field (ids included)
# any JSON integer: the schema's number rule (schemas.parse_number) judges it as the batch
# path does (beyond the float range: not_a_number), so REST and files give one verdict
WholeNumber = Annotated[int, Field(strict=True)]
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, max_length=MAX_STRING)]
Scalar = Optional[Union[StrictBool, WholeNumber, FiniteNumber, Text]]
# "has a character str.strip() keeps" (RowValidator strips text): Python's whitespace is not
# the JSON Schema regex's \s (\x1c-\x1f, \x85 are Python's only; \ufeff is \s only)
NOT_BLANK = "[^" + "".join(f"\\u{c:04x}" for c in range(0x10000) if chr(c).isspace()) + "]"


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
    # when set, POST /predict and POST /admin/reload need `Authorization: Bearer <token>`
    api_token: str | None = field(default_factory=lambda: os.environ.get("LOOPLINE_API_TOKEN"))


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
        loaded = Loaded(bundle=Bundle.load(resolved.path, online=True), source=resolved)
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


def column_type(rule: ColumnRule, na_values: tuple[str, ...] = ()) -> Any:
    """Return the JSON type one column accepts, with the OpenAPI schema that describes it.

    The JSON level is enforced here (a number column takes finite JSON numbers, a text column
    strings of at most MAX_STRING characters, a required column a non-null value); the
    schema's rules (range, allowed values, whole numbers, timestamps) stay in the bundle's
    RowValidator and are only *declared* here, so the document says what the service does.
    """
    doc: dict[str, Any]
    if rule.is_numeric:
        base: Any = Union[WholeNumber, FiniteNumber]
        doc = {"type": "integer" if rule.dtype == "int" else "number"}
        if rule.min is not None:
            doc["minimum"] = rule.min
        if rule.max is not None:
            doc["maximum"] = rule.max
    else:
        base = Text
        doc = {"type": "string", "maxLength": MAX_STRING}
        if rule.dtype == "datetime":
            doc["format"] = "date-time"
            # JSON Schema has no range for date-time strings: stated, and enforced by the
            # validator (`date_range`), as is "not after now plus a day" (`in_future`)
            low, high = (t.isoformat() for t in rule.date_range)
            doc["description"] = (
                f"from {low} to {high} (UTC), and not later than now plus a day; "
                "an offset (+02:00) is converted to UTC"
            )
            doc["x-minimum"], doc["x-maximum"] = low, high
        if not rule.nullable:  # the dataset's NA markers (blank, "NA", ...) read as missing
            if any(not v.strip() for v in na_values):
                doc["pattern"] = NOT_BLANK
            if markers := sorted({v for v in na_values if v.strip()}):
                doc["not"] = {"enum": markers}
    # unknown levels of an `accept` category are scored as __unknown__: no enum for those
    if rule.allowed is not None and not (rule.dtype == "category" and rule.unknown == "accept"):
        doc["enum"] = list(rule.allowed)
        if rule.nullable and not rule.is_numeric:  # an NA marker ("NA", "?") reads as missing
            doc["enum"] += [v for v in na_values if v not in rule.allowed]
        doc.pop("pattern", None)  # the enum says it all
        doc.pop("not", None)
    if rule.nullable:
        return Annotated[Optional[base], WithJsonSchema({"anyOf": [doc, {"type": "null"}]})]
    return Annotated[base, WithJsonSchema(doc)]


def request_model(
    schema: TableSchema, ignored: tuple[str, ...] = (), na_values: tuple[str, ...] = ()
) -> type[BaseModel]:
    """Return the pydantic model of one application: one typed field per schema column.

    Nullable columns may be left out or null; the others are required. `ignored` fields (the
    label: an outcome, not an input) are accepted and never used.
    """
    fields: dict[str, Any] = {
        rule.name: (
            column_type(rule, na_values),
            Field(default=None) if rule.nullable else Field(),
        )
        for rule in schema.columns
    }
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
    application_id: Optional[str] = Field(
        default=None, description="the id column's value as text (null when there is none)"
    )
    score: float
    decision: str
    decided_by: str
    reason_codes: list[str]
    model_version: str
    bundle_id: str


class ErrorItem(BaseModel):
    index: Optional[int] = Field(description="the item of a list request (0 for an object)")
    field: Optional[str] = Field(description="the column, or null for the body as a whole")
    rule: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer: what went wrong, and per item and field which rule was broken."""

    detail: str
    errors: list[ErrorItem]


def _declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI `responses=` entries for error statuses, all in the ErrorBody shape."""
    what = {
        400: "malformed request (e.g. a non-numeric Content-Length)",
        401: "a token is configured and the request lacks `Authorization: Bearer <token>`",
        413: f"body over {MAX_BODY_BYTES} bytes or over {MAX_BATCH} applications",
        422: "not JSON, wrong JSON types, non-finite numbers, or broken schema rules",
        503: "no model is available",
    }
    return {status: {"model": ErrorBody, "description": what[status]} for status in statuses}


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
        if length is not None and not length.isdigit():
            await _error(400, "Content-Length is not a number")(scope, receive, send)
            return
        if length is not None and int(length) > self.max_bytes:
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


READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenGuard:
    """With a token configured, every request that may change state (any method but GET, HEAD
    and OPTIONS: /predict writes the log and the per-customer history, /admin/reload swaps the
    model) needs `Authorization: Bearer <token>`; 401 otherwise. Pure ASGI, and outside body
    parsing, so an unauthenticated caller learns nothing about what the body would do."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = b"Bearer " + token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in READ_ONLY_METHODS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = _error(401, "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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


# pydantic's error types, in the rule vocabulary of the schema's own errors
_PYDANTIC_RULES = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "finite_number": "not_finite",
    "json_invalid": "invalid_json",
    "string_too_long": "too_long",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
}


def _request_errors(exc: RequestValidationError, numeric: set[str]) -> list[dict[str, Any]]:
    """Return FastAPI's body validation errors in the ErrorBody shape, one per item and field.

    The body is `Application | list[Application]`: pydantic reports both branches, and only
    the one matching what was sent (object or list) is meant.
    """
    body = getattr(exc, "body", None)
    branch = "list" if isinstance(body, list) else "Application"
    best: dict[tuple[Any, Any], dict[str, Any]] = {}
    for err in exc.errors():
        loc = [part for part in err.get("loc", ()) if part != "body"]
        if loc and isinstance(loc[0], str) and loc[0].startswith(("Application", "list[")):
            if not loc[0].startswith(branch):
                continue
            loc = loc[1:]
        kind = err.get("type", "invalid")
        if kind == "json_invalid":
            index, column = None, None  # loc holds a character position, not an item
        else:
            index = loc[0] if loc and isinstance(loc[0], int) else (0 if loc else None)
            names = [part for part in loc if isinstance(part, str)]
            column = names[0] if names else None
        if kind in _PYDANTIC_RULES:
            rule = _PYDANTIC_RULES[kind]
        elif column is None:
            rule = "not_an_object"
        elif err.get("input", "") is None:
            rule = "missing"
        elif column in numeric:
            rule = "not_a_number"
        else:
            rule = "not_a_string" if kind.startswith("string") else "wrong_type"
        where = f"{column}: " if column else ""
        entry = {"index": index, "field": column, "rule": rule, "message": where + str(err["msg"])}
        # a union field fails once per member type (int, float): keep the most telling one
        kept = best.get((index, column))
        if kept is None or _RANK.get(rule, 0) > _RANK.get(kept["rule"], 0):
            best[(index, column)] = entry
    return list(best.values())


_RANK = {"not_finite": 3, "out_of_range": 2, "too_long": 2}


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message, "errors": errors or []})


def _too_many(body: Any) -> JSONResponse | None:
    """Return the 413 for a list of more than MAX_BATCH applications (valid or not), or None."""
    if isinstance(body, list) and len(body) > MAX_BATCH:
        return _error(413, f"at most {MAX_BATCH} applications per request")
    return None


def _id_text(value: Any) -> str | None:
    """Return an id column's canonical value as text (a whole float without its `.0`)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Service:
    """What the endpoints share, held in `app.state.service` (the `service` dependency)."""

    settings: Settings
    holder: ModelHolder
    prediction_log: PredictionLog
    numeric: set[str]  # the schema's numeric columns: their type errors are not_a_number
    # check -> score -> remember -> log of one request happens under this lock, so two
    # requests never interleave their per-customer history updates; scoring runs in worker
    # threads (never on the event loop), at most two waiting for the lock at a time
    scoring: threading.Lock = field(default_factory=threading.Lock)
    scorers: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))


async def _service(request: Request) -> Service:
    """The service state (async: a plain def would cost a thread per request)."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(_service)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Watch the champion alias while serving; close the prediction log at shutdown."""
    service: Service = app.state.service
    if service.settings.poll_seconds > 0:
        watcher = threading.Thread(target=service.holder.watch, name="champion-watch", daemon=True)
        watcher.start()
    yield
    service.holder.stop()
    service.prediction_log.close()


# ----------------------------------------------------------------------------- errors


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body of the wrong shape: 413 for too many items, else 422 per item and field."""
    if (refused := _too_many(getattr(exc, "body", None))) is not None:
        return refused
    return _error(
        422,
        "the request is not valid JSON of the declared shape",
        _request_errors(exc, request.app.state.service.numeric),
    )


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own refusals (an unreadable body, 404, 405) in the ErrorBody shape."""
    response = _error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return _error(500, "internal error; the request was not scored")


# ----------------------------------------------------------------------------- endpoints


async def health() -> dict[str, str]:
    return {"status": "ok"}


async def ready(service: ServiceDep) -> JSONResponse:
    current = service.holder.current
    if current is None:
        return _error(503, "no model loaded")
    return JSONResponse({"status": "ready", "model_version": current.source.label})


async def model_info(service: ServiceDep) -> dict[str, Any]:
    current = service.holder.current
    return {
        "name": current.source.name,
        "version": current.source.version,
        "model_version": current.source.label,
        "loaded_at": current.loaded_at,
        **current.bundle.info(),
        "training_run": current.source.run_id,
    }


async def reload(service: ServiceDep) -> Any:
    # loading a bundle takes a second or two: off the event loop, so requests keep flowing;
    # in the default thread pool, never behind the scorers' queue
    holder = service.holder
    try:
        changed = await run_in_threadpool(holder.refresh)
    except Exception as exc:  # the registry or the bundle is unavailable
        log.exception("reload failed; still serving the current model")
        return _error(503, f"reload failed, still serving the current model: {exc}")
    return {"changed": changed, "model_version": holder.current.source.label}


async def predict_body(service: Service, body: Any, request: Request) -> Any:
    """Score one application or a list of them (in a worker thread, behind the lock)."""
    if (refused := _too_many(body)) is not None:
        return refused
    items = body if isinstance(body, list) else [body]
    base_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    return await anyio.to_thread.run_sync(score, service, items, base_id, limiter=service.scorers)


def _predict_endpoint(application: type[BaseModel]) -> Callable[..., Awaitable[Any]]:
    """Return POST /predict's endpoint: its body type is the bundle's request model."""

    async def predict(
        body: Union[application, list[application]],  # type: ignore[valid-type]
        request: Request,
        service: ServiceDep,
    ) -> Any:
        return await predict_body(service, body, request)

    return predict


# ----------------------------------------------------------------------------- scoring


def score(service: Service, items: list[BaseModel], base_id: str) -> JSONResponse:
    """Check every item, then score, remember and log them in order (a worker thread)."""
    with service.scoring:
        current = service.holder.current  # one bundle for the whole request, even during a swap
        bundle = current.bundle
        ignored = bundle.dataset.target  # a label is an outcome, not an input: never logged
        records = [{k: v for k, v in i.model_dump().items() if k != ignored} for i in items]
        # every item is checked before any is scored: a rejected request changes nothing
        # (no item of it enters the per-customer history, none is logged)
        checked = [bundle.check_record(record) for record in records]
        errors = [e for i, (_, broken) in enumerate(checked) for e in _rule_errors(i, broken)]
        if errors:
            return _error(422, "the application breaks the schema's rules", errors)
        # in order: a later item of a customer sees the earlier ones in its history features
        scored = [bundle.score_checked(values) for values, _ in checked]
        answers, logged = _results(current, records, scored, base_id)
        service.prediction_log.append_many(logged)
        return JSONResponse(answers)


def _results(
    current: Loaded, records: list[dict[str, Any]], scored: list[dict[str, Any]], base_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the answer items and the prediction log entries of one scored request."""
    now = datetime.now(UTC).isoformat()
    answers, logged = [], []
    for index, (record, result) in enumerate(zip(records, scored, strict=True)):
        request_id = base_id if len(records) == 1 else f"{base_id}-{index}"
        answers.append(_answer(current, request_id, result))
        logged.append(
            {
                "request_id": request_id,
                "logged_at": now,
                "source": "rest",
                "model_version": current.source.label,
                "bundle_id": current.bundle.bundle_id,
                "score": result["score"],
                "decision": result["decision"],
                "reasons": result["reasons"],
                "input": record,
                "features": result["features"],
            }
        )
    return answers, logged


def _answer(current: Loaded, request_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """Return one item of /predict's answer (the Prediction shape)."""
    id_column = current.bundle.dataset.id_column
    return {
        "request_id": request_id,
        "application_id": _id_text(result["values"].get(id_column)) if id_column else None,
        "score": result["score"],
        "decision": result["decision"],
        "decided_by": result["decided_by"],
        "reason_codes": result["reasons"],
        "model_version": current.source.label,
        "bundle_id": current.bundle.bundle_id,
    }


# ----------------------------------------------------------------------------- assembly


def _add_routes(
    app: FastAPI, application: type[BaseModel], example: dict[str, Any], writes: tuple[int, ...]
) -> None:
    """Declare the endpoints (writes: the statuses a state-changing call may add, e.g. 401)."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/ready", ready, methods=["GET"], responses=_declare(503))
    app.add_api_route("/model", model_info, methods=["GET"])
    app.add_api_route(
        "/admin/reload", reload, methods=["POST"], responses=_declare(400, *writes, 413, 503)
    )
    app.add_api_route(
        "/predict",
        _predict_endpoint(application),
        methods=["POST"],
        response_model=list[Prediction],
        responses=_declare(400, *writes, 413, 422),
        openapi_extra={
            "requestBody": {
                "content": {"application/json": {"examples": {"one": {"value": example}}}}
            }
        },
    )


def create_app(settings: Settings, holder: ModelHolder | None = None) -> FastAPI:
    """Return the application; the bundle is loaded at startup, not at import."""
    holder = holder or ModelHolder(settings)
    if holder.current is None:
        holder.load()
    schema = holder.current.bundle.schema
    dataset = holder.current.bundle.dataset
    application = request_model(
        schema, ignored=(dataset.target,), na_values=tuple(str(v) for v in dataset.na_values)
    )
    numeric = {rule.name for rule in schema.columns if rule.is_numeric}
    service = Service(settings, holder, PredictionLog(settings.log_dir), numeric)
    token = settings.api_token or None
    app = FastAPI(
        title="Loopline scoring service",
        version="1",
        lifespan=lifespan,
        description=(
            "Scores loan applications: score, decision, reason codes, model version. "
            "Every error answer has the ErrorBody shape."
            + (" POST endpoints need `Authorization: Bearer <token>`." if token else "")
        ),
    )
    app.state.holder = holder
    app.state.service = service
    # outermost last: the body limit runs first, then the token check, then routing
    if token:
        app.add_middleware(TokenGuard, token=token)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    _add_routes(app, application, example_record(schema), writes=(401,) if token else ())
    if token:
        _declare_bearer(app)
    return app


def _declare_bearer(app: FastAPI) -> None:
    """Say in the OpenAPI document that the state-changing operations need the bearer token."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = plain()
            doc.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for operations in doc["paths"].values():
                for method, operation in operations.items():
                    if method.upper() not in READ_ONLY_METHODS:
                        operation["security"] = [{"bearer": []}]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service on uvicorn (one worker; binds to loopback unless told otherwise)."""
    import uvicorn

    started = time.perf_counter()
    app = create_app(settings)
    log.info("model loaded in %.1f s", time.perf_counter() - started)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
