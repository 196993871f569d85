"""Cross-origin requests: the provider's API is public and every request that changes anything is
signed, so any web page may call it (a catalog's dataset page, where the buyer's wallet signs).

Every answer carries ``Access-Control-Allow-Origin: *``; no credentials are ever involved (a job's
bearer token travels in ``Authorization``, which a page sets itself). A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) for a route that has that method is answered 204 with the route's
methods and the headers a client sends (``Content-Type`` for the JSON bodies, ``Authorization`` for
a job's endpoints). Any other ``OPTIONS`` stays 405, as OPTIONS is no method of the API.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

ALLOW_HEADERS = "Content-Type, Authorization"
#: Headers a page may read beyond the safelisted ones.
EXPOSE_HEADERS = "Retry-After, Content-Disposition"
#: Seconds a browser may keep a preflight's answer.
MAX_AGE = "600"


def install(app: Flask) -> None:
    """Answer preflights and mark every answer of ``app`` readable by any origin. Install it after
    the rate limiter, so that preflights are counted like any request."""

    @app.before_request
    def _preflight() -> Response | None:
        wanted = request.headers.get("Access-Control-Request-Method")
        if request.method != "OPTIONS" or not wanted:
            return None
        methods = _methods(app, request.path)
        if wanted.upper() not in methods:
            return None  # routing answers 404 or 405 as for any other request
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(methods))
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    @app.after_request
    def _allow(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers.setdefault("Access-Control-Expose-Headers", EXPOSE_HEADERS)
        return response


def _methods(app: Flask, path: str) -> set[str]:
    """The methods the route at ``path`` answers (OPTIONS aside)."""
    adapter = app.url_map.bind("provider")
    methods: set[str] = set()
    for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
        try:
            adapter.match(path, method=method)
        except HTTPException:
            continue
        methods.add(method)
    return methods


__all__ = ["ALLOW_HEADERS", "install"]
