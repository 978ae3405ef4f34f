"""The OpenAPI description, generated from the request path's own route table.

Bodies are described by the same pydantic models that parse them, and path
parameters by the names and versions actually served, so a request the description
rules out is one the server refuses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tunelab.deploy.serve._inference import ServedModel
from tunelab.deploy.serve._protocol import ErrorResponse

if TYPE_CHECKING:
    from tunelab.deploy.serve._app import Route

_REF = "#/components/schemas/{model}"
_PARAMETER = re.compile(r"\{(\w+)\}")
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def build_openapi(
    routes: Sequence[Route],
    models: Sequence[ServedModel],
    *,
    title: str,
    version: str,
    description: str,
    api_key: bool,
) -> dict[str, Any]:
    """An OpenAPI 3.1 document describing ``routes`` as served for ``models``."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = _operation(route, models, schemas, api_key)
        paths.setdefault(route.template, {})[route.method.lower()] = operation
    _add_schema(ErrorResponse, schemas)
    components: dict[str, Any] = {"schemas": schemas}
    if api_key:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "the API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": components,
    }


def _operation(
    route: Route, models: Sequence[ServedModel], schemas: dict[str, Any], api_key: bool
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{route.handler}_{route.method}_{route.template}".replace("/", "_"),
        "summary": route.summary,
    }
    if route.description:
        operation["description"] = route.description
    parameters = [_path_parameter(name, models) for name in _PARAMETER.findall(route.template)]
    if route.model and "{name}" not in route.template:
        names = [served.name for served in models]
        parameters.append(
            {
                "name": "model",
                "in": "query",
                "required": len(names) > 1,
                "schema": {"type": "string", "enum": names},
                "description": "The served model; may be left out when only one is served.",
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _add_schema(route.body, schemas)}},
        }
    responses: dict[str, Any] = {"200": _success(route, schemas)}
    error = {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}
    if route.body is not None:
        responses["400"] = {
            "description": "Bad request; the message names the field.",
            "content": error,
        }
        responses["408"] = {"description": "The body did not arrive in time.", "content": error}
        responses["413"] = {"description": "Body or batch over the limits.", "content": error}
        responses["503"] = {"description": "Too many bytes in flight; retry.", "content": error}
    if route.model:
        responses["404"] = {"description": "No such model or version.", "content": error}
    if api_key and not route.open:
        responses["401"] = {"description": "Missing or wrong API key.", "content": error}
        operation["security"] = _SECURITY
    operation["responses"] = responses
    return operation


def _path_parameter(name: str, models: Sequence[ServedModel]) -> dict[str, Any]:
    values = [served.name if name == "name" else served.version for served in models]
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(dict.fromkeys(values))},
    }


def _success(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    if route.answer is not None:
        schema = _add_schema(route.answer, schemas)
        return {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if route.answer_type is not None:
        return {"description": "OK", "content": {route.answer_type: {}}}
    return {"description": "OK (empty body)"}


def _add_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def docs_page(title: str) -> bytes:
    """An HTML page showing ``/openapi.json`` with Swagger UI (loaded from a CDN)."""
    base = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="{base}/swagger-ui.css"></head>
<body><div id="ui"></div><script src="{base}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "openapi.json", dom_id: "#ui"}});</script></body></html>
"""
    return page.encode("utf-8")
