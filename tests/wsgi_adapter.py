"""A requests transport that answers from a WSGI application in this process: unit tests run an HTTP
client against a real server application without opening a socket."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

#: Called with (method, path, status, content type, body) of every answer.
Check = Callable[[str, str, int, str, bytes], None]


class WsgiAdapter(BaseAdapter):
    def __init__(self, app: Any, *, check: Check | None = None) -> None:
        super().__init__()
        self.client = Client(app)
        self.check = check
        self.sent: list[requests.PreparedRequest] = []

    def send(
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        self.sent.append(request)
        url = urlsplit(request.url or "")
        body = request.body or b""
        answer = self.client.open(
            path=url.path, query_string=url.query, method=request.method,
            headers=list(request.headers.items()),
            data=body.encode() if isinstance(body, str) else body,
        )  # fmt: skip
        data = answer.get_data()
        if self.check is not None:
            self.check(request.method or "", url.path, answer.status_code, answer.content_type or "", data)
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.raw = io.BytesIO(data)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


__all__ = ["WsgiAdapter"]
