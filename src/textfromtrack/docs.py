"""/docs: Swagger UI served from files installed with the service.

FastAPI's own /docs page loads Swagger UI from a CDN, which a self-hosted instance on
an offline or firewalled machine cannot reach: the page stayed blank there. The
``fastapi-offline`` distribution ships a current Swagger UI bundle (5.x, which reads
the OpenAPI 3.1 that FastAPI writes); only its static files are used.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve /docs and its assets; ``app`` must be built with ``docs_url=None``."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("Swagger UI needs the app's OpenAPI document")

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    app.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
