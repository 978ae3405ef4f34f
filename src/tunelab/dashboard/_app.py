"""The dashboard's web app: pages, the JSON API and the write actions, on Starlette.

Reads need nothing; the write actions (enqueue a trial, mark a running trial failed,
add a note) need the API key the dashboard was started with, sent the way
``tunelab serve`` takes it (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).
Without a key the dashboard is read-only.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import json
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import unquote

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"the dashboard needs starlette and uvicorn: pip install 'tunelab[dashboard]' ({exc})"
    ) from exc

from tunelab.dashboard import _pages, _views
from tunelab.dashboard._data import StudyCache, StudyData
from tunelab.dashboard._source import study_names
from tunelab.deploy.serve._app import AUTH_MESSAGE
from tunelab.exceptions import StudyNotFoundError, UpdateFinishedTrialError
from tunelab.storage import BaseStorage
from tunelab.study import METRIC_NAMES_KEY, PRUNER_KEY
from tunelab.trial import FIXED_PARAMS_KEY, TrialState
from tunelab.visualization._front import PICKED_TRIAL_KEY

# Each note is its own study attribute, so notes added at the same moment never overwrite
# one another (a single list would be read, changed and written back by each).
NOTE_PREFIX = "dashboard_note:"
MAX_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
MAX_CHANGED_ROWS = 2000
READ_ONLY_MESSAGE = (
    "write actions are off: start the dashboard with --api-key (or $TUNELAB_API_KEY) to allow them"
)
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}

Handler = Callable[[Request], Awaitable[Response]]


class HTTPError(Exception):
    """A request the dashboard refuses, answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise HTTPError(422, f"query parameter {name!r} must be an integer, got {text!r}") from None


def _float(request: Request, name: str, default: float) -> float:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise HTTPError(422, f"query parameter {name!r} must be a number, got {text!r}")
    return value


class Dashboard:
    """The state behind the app: the storage, its studies' columns and the API key.

    Args:
        storage: Where the studies live.
        api_key: Key the write actions need; None makes the dashboard read-only.
    """

    def __init__(self, storage: BaseStorage, api_key: str | None = None) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ValueError("api_key must be a non-empty string or None")
        self.storage = storage
        self.cache = StudyCache(storage)
        self.importances = _views.Importances()
        self.fronts = _views.Fronts()
        self._key = None if api_key is None else api_key.encode("utf-8")
        # Set when the server stops, so that open long polls answer at once.
        self.closing = False

    def warm_up(self) -> threading.Thread:
        """Read every study's columns in a background thread, before the first page asks."""

        def work() -> None:
            for name in study_names(self.storage):
                if self.closing:
                    return
                try:
                    self.cache.get(name)
                except StudyNotFoundError:
                    continue  # deleted meanwhile

        thread = threading.Thread(target=work, name="tunelab-dashboard-warm-up", daemon=True)
        thread.start()
        return thread

    # -- plumbing --
    def study(self, request: Request) -> StudyData:
        name = study_name(request)
        try:
            return self.cache.get(name)
        except StudyNotFoundError:
            raise HTTPError(404, f"no study named {name!r} in this storage") from None

    def authorize(self, request: Request) -> None:
        if self._key is None:
            raise HTTPError(403, READ_ONLY_MESSAGE)
        offered = [request.headers.get("x-api-key")]
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered.append(credentials.strip())
        if not any(o and hmac.compare_digest(o.encode("utf-8"), self._key) for o in offered):
            raise HTTPError(401, AUTH_MESSAGE)

    @staticmethod
    def number(request: Request, data: StudyData) -> int:
        text = request.path_params["number"]
        if not text.isdigit() or int(text) >= data.n:
            raise HTTPError(404, f"study {data.name!r} has no trial number {text}")
        return int(text)

    async def body(self, request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise HTTPError(422, f"the body must be a JSON object: {exc}") from None
        if not isinstance(payload, dict):
            raise HTTPError(422, "the body must be a JSON object")
        return payload

    # -- pages --
    async def page_studies(self, request: Request) -> Response:
        return HTMLResponse(_pages.page("Studies", "studies", {}))

    async def page_study(self, request: Request) -> Response:
        name = study_name(request)

        def exists() -> None:
            # Only the name: the shell is sent before the study's trials are read.
            try:
                self.storage.get_study_id_from_name(name)
            except StudyNotFoundError:
                raise HTTPError(404, f"no study named {name!r} in this storage") from None

        await run_in_threadpool(exists)
        info = {"study": name, "writable": self._key is not None}
        return HTMLResponse(_pages.page(f"Study {name}", "study", info))

    async def page_trial(self, request: Request) -> Response:
        data = await run_in_threadpool(self.study, request)
        number = self.number(request, data)
        info = {"study": data.name, "number": number, "writable": self._key is not None}
        return HTMLResponse(_pages.page(f"Trial {number} of {data.name}", "trial", info))

    async def page_compare(self, request: Request) -> Response:
        names = [n for n in request.query_params.get("studies", "").split(",") if n]
        return HTMLResponse(_pages.page("Compare studies", "compare", {"studies": names}))

    async def static(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in _STATIC:
            raise HTTPError(404, f"no file {name!r}")
        text = resources.files("tunelab.dashboard").joinpath("static", name).read_text("utf-8")
        return Response(
            text, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=300"}
        )

    # -- reads --
    async def api_studies(self, request: Request) -> Response:
        def work() -> list[dict[str, Any]]:
            return [_views.summary(self.cache.get(name)) for name in study_names(self.storage)]

        return _json({"studies": await run_in_threadpool(work)})

    def _read(self, view: Callable[[Request, StudyData], Any]) -> Handler:
        async def handler(request: Request) -> Response:
            def work() -> Any:
                return view(request, self.study(request))

            return _json(await run_in_threadpool(work))

        return handler

    def api_summary(self, request: Request, data: StudyData) -> Any:
        return _views.summary(data)

    def api_history(self, request: Request, data: StudyData) -> Any:
        return _views.history(data, _int(request, "objective", 0))

    def api_table(self, request: Request, data: StudyData) -> Any:
        return _views.table(data, **self._table_options(request))

    def _table_options(self, request: Request) -> dict[str, Any]:
        states = [s for s in request.query_params.get("state", "").split(",") if s]
        return {
            "page": _int(request, "page", 0),
            "size": _int(request, "size", 50),
            "sort": request.query_params.get("sort", "number"),
            "descending": request.query_params.get("desc", "") in ("1", "true"),
            "states": states,
            "search": request.query_params.get("q", ""),
        }

    def api_parameters(self, request: Request, data: StudyData) -> Any:
        return _views.parameters(data, _int(request, "objective", 0))

    def api_contour(self, request: Request, data: StudyData) -> Any:
        for name in ("x", "y"):
            if not request.query_params.get(name):
                raise HTTPError(422, f"query parameter {name!r} (a parameter name) is required")
        x, y = request.query_params["x"], request.query_params["y"]
        return _views.contour(data, x, y, _int(request, "objective", 0))

    def api_pareto(self, request: Request, data: StudyData) -> Any:
        picked = self.storage.get_study_attrs(data.study_id).get(PICKED_TRIAL_KEY)
        names = self.storage.get_study_attrs(data.study_id, system=True).get(METRIC_NAMES_KEY)
        return {**self.fronts.get(data, picked), "names": names}

    def api_curves(self, request: Request, data: StudyData) -> Any:
        pruner = self.storage.get_study_attrs(data.study_id, system=True).get(PRUNER_KEY)
        return _views.curves(data, pruner)

    def api_importances(self, request: Request, data: StudyData) -> Any:
        return self.importances.get(data)

    def api_trial(self, request: Request, data: StudyData) -> Any:
        number = self.number(request, data)
        trial = self.storage.get_trial(data.trial_id[number])
        notes = [n for n in self._notes(data) if n.get("trial") == number]
        return {
            "study": data.name,
            "number": trial.number,
            "trial_id": trial.trial_id,
            "state": trial.state.name,
            "values": None if trial.values is None else [_num(v) for v in trial.values],
            "params": {k: _jsonable(v) for k, v in trial.params.items()},
            "distributions": {k: repr(d) for k, d in trial.distributions.items()},
            "intermediate_values": [[s, _num(v)] for s, v in trial.intermediate_values.items()],
            "user_attrs": {k: _jsonable(v) for k, v in trial.user_attrs.items()},
            "system_attrs": {k: _jsonable(v) for k, v in trial.system_attrs.items()},
            "fail_reason": trial.system_attrs.get("fail_reason"),
            "datetime_start": _stamp(trial.datetime_start),
            "datetime_complete": _stamp(trial.datetime_complete),
            "notes": notes,
        }

    def api_notes(self, request: Request, data: StudyData) -> Any:
        return {"notes": self._notes(data)}

    def _notes(self, data: StudyData) -> list[dict[str, Any]]:
        attrs = self.storage.get_study_attrs(data.study_id, system=True)
        keys = sorted(k for k in attrs if k.startswith(NOTE_PREFIX))  # keys start with the time
        return [dict(attrs[k]) for k in keys if isinstance(attrs[k], dict)]

    async def api_changes(self, request: Request) -> Response:
        cursor = _int(request, "cursor", 0)
        wait = min(MAX_WAIT_SECONDS, max(0.0, _float(request, "wait", 0.0)))
        data = await run_in_threadpool(self.study, request)
        deadline = time.monotonic() + wait
        while data.cursor <= cursor and time.monotonic() < deadline and not self.closing:
            if await request.is_disconnected():
                return Response(status_code=204)
            await asyncio.sleep(POLL_SECONDS)
            await run_in_threadpool(data.refresh)

        def work() -> dict[str, Any]:
            numbers = data.changes_since(cursor)
            reset = len(numbers) > MAX_CHANGED_ROWS
            return {
                "cursor": data.cursor,
                "reset": reset,
                "rows": [] if reset else _views.rows(data, numbers),
                "summary": _views.summary(data),
            }

        return _json(await run_in_threadpool(work))

    async def api_download(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("csv", "json"):
            raise HTTPError(404, f"downloads are csv or json, not {kind!r}")

        def work() -> tuple[str, str]:
            data = self.study(request)
            data.ensure_params()
            options = self._table_options(request)
            for key in ("page", "size"):
                options.pop(key)
            numbers = [int(n) for n in _views.select(data, **options)]
            table = _views.rows(data, numbers)
            if kind == "json":
                return json.dumps({"study": data.name, "trials": table}), data.name
            return _csv(data, table), data.name

        text, name = await run_in_threadpool(work)
        media = "application/json" if kind == "json" else "text/csv"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        disposition = f'attachment; filename="{safe}-trials.{kind}"'
        return Response(text, media_type=media, headers={"Content-Disposition": disposition})

    # -- writes --
    async def api_enqueue(self, request: Request) -> Response:
        self.authorize(request)
        payload = await self.body(request)
        params = payload.get("params")
        if not isinstance(params, dict):
            raise HTTPError(422, "params: give an object of parameter name to value")

        def work() -> dict[str, Any]:
            data = self.study(request)
            checked = _check_params(data, params)
            trial = self.storage.create_new_trial(
                data.study_id, state=TrialState.WAITING, system_attrs={FIXED_PARAMS_KEY: checked}
            )
            data.refresh(force=True)
            return {"number": trial.number, "state": trial.state.name, "params": checked}

        return _json(await run_in_threadpool(work), status=201)

    async def api_fail(self, request: Request) -> Response:
        self.authorize(request)
        payload = await self.body(request)
        reason = payload.get("reason", "marked failed in the dashboard")
        if not isinstance(reason, str) or not reason:
            raise HTTPError(422, "reason: give a non-empty string")

        def work() -> dict[str, Any]:
            data = self.study(request)
            data.refresh(force=True)
            number = self.number(request, data)
            state = TrialState(int(data.arrays()["state"][number]))
            if state != TrialState.RUNNING:
                raise HTTPError(
                    409, f"trial {number} is {state.name}; only a RUNNING trial can be failed"
                )
            try:
                self.storage.set_trial_state_values(
                    data.trial_id[number], TrialState.FAIL, fail_reason=reason
                )
            except UpdateFinishedTrialError as exc:
                raise HTTPError(409, str(exc)) from None
            data.refresh(force=True)
            return {"number": number, "state": "FAIL", "fail_reason": reason}

        return _json(await run_in_threadpool(work))

    async def api_add_note(self, request: Request) -> Response:
        self.authorize(request)
        payload = await self.body(request)
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HTTPError(422, "text: give the note as a non-empty string")
        trial = payload.get("trial")

        def work() -> dict[str, Any]:
            data = self.study(request)
            if trial is not None and (not isinstance(trial, int) or not 0 <= trial < data.n):
                raise HTTPError(422, f"trial: study {data.name!r} has no trial number {trial!r}")
            note = {"trial": trial, "text": text.strip(), "time": time.time()}
            key = f"{NOTE_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
            self.storage.set_study_attr(data.study_id, key, note, system=True)
            return note

        return _json(await run_in_threadpool(work), status=201)


def _check_params(data: StudyData, params: dict[str, Any]) -> dict[str, Any]:
    """The queued parameters, checked against the distributions the study's trials used."""
    if not data.dists and data.n:
        data.params_of(list(range(max(0, data.n - 20), data.n)))
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if value is not None and not isinstance(value, bool | int | float | str):
            raise HTTPError(422, f"params.{name}: give a number, string, boolean or null")
        dist = data.dists.get(name)
        if dist is None:
            if data.dists:
                known = ", ".join(sorted(data.dists))
                raise HTTPError(
                    422, f"params.{name}: the study has no parameter {name!r} (it has: {known})"
                )
        else:
            try:
                internal = dist.to_internal(value)
                inside = dist.contains(internal)
            except (TypeError, ValueError):
                inside = False
            if not inside:
                raise HTTPError(422, f"params.{name}: {value!r} is not in {dist!r}")
        checked[name] = value
    return checked


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _stamp(value: Any) -> float | None:
    return None if value is None else value.timestamp()


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _csv(data: StudyData, table: list[dict[str, Any]]) -> str:
    names = sorted(data.dists)
    objectives = [f"value{k}" for k in range(len(data.directions))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["number", "state", *objectives, "start", "complete", "duration", *names, "fail_reason"]
    )
    for item in table:
        writer.writerow(
            [
                item["number"],
                item["state"],
                *item["values"],
                item["start"],
                item["complete"],
                item["duration"],
                *[item["params"].get(n) for n in names],
                item["fail_reason"],
            ]
        )
    return out.getvalue()


# Stands for a '/' inside a path segment (%2F): study names are printable text, so a NUL
# can never be part of one, and routes still split the path on real slashes only.
_SLASH = "\x00"


def study_name(request: Request) -> str:
    """The study named in the path, '/' included (sent as %2F)."""
    return str(request.path_params["name"]).replace(_SLASH, "/")


class EncodedSlashes:
    """Route on the path with each %2F kept inside its segment: names like 'team/run-1'."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%2f" in raw.lower():
            path = raw.split(b"?", 1)[0].decode("latin-1")
            path = path.replace("%2F", _SLASH).replace("%2f", _SLASH)
            scope = {**scope, "path": unquote(path)}
        await self.app(scope, receive, send)


def create_app(
    storage: BaseStorage, *, api_key: str | None = None, warm_up: bool = False
) -> Starlette:
    """The dashboard's ASGI app over ``storage``.

    Args:
        storage: Where the studies live (any :class:`~tunelab.storage.BaseStorage`).
        api_key: Key the write actions need; None (the default) makes it read-only.
        warm_up: Start reading every study's trials now, in a background thread, so that
            the first page of a large study does not wait for it.

    Returns:
        A Starlette app; serve it with uvicorn or :func:`tunelab.dashboard.run_dashboard`.
    """
    dash = Dashboard(storage, api_key)
    read = dash._read
    routes = [
        Route("/", dash.page_studies),
        Route("/compare", dash.page_compare),
        Route("/studies/{name}", dash.page_study),
        Route("/studies/{name}/trials/{number}", dash.page_trial),
        Route("/static/{file}", dash.static),
        Route("/api/studies", dash.api_studies),
        Route("/api/studies/{name}", read(dash.api_summary)),
        Route("/api/studies/{name}/history", read(dash.api_history)),
        Route("/api/studies/{name}/table", read(dash.api_table)),
        Route("/api/studies/{name}/parameters", read(dash.api_parameters)),
        Route("/api/studies/{name}/contour", read(dash.api_contour)),
        Route("/api/studies/{name}/pareto", read(dash.api_pareto)),
        Route("/api/studies/{name}/curves", read(dash.api_curves)),
        Route("/api/studies/{name}/importances", read(dash.api_importances)),
        Route("/api/studies/{name}/changes", dash.api_changes),
        Route("/api/studies/{name}/download.{kind}", dash.api_download),
        Route("/api/studies/{name}/notes", read(dash.api_notes)),
        Route("/api/studies/{name}/notes", dash.api_add_note, methods=["POST"]),
        Route("/api/studies/{name}/trials", dash.api_enqueue, methods=["POST"]),
        Route("/api/studies/{name}/trials/{number}", read(dash.api_trial)),
        Route("/api/studies/{name}/trials/{number}/fail", dash.api_fail, methods=["POST"]),
    ]

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def on_view_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _views.ViewError)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(EncodedSlashes)],
        exception_handlers={HTTPError: on_http_error, _views.ViewError: on_view_error},
    )
    app.state.dashboard = dash
    if warm_up:
        dash.warm_up()
    return app
