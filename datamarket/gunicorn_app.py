"""Run a service's WSGI app under gunicorn from its own CLI command (``provider serve``, ``gateway
serve``): one embedded gunicorn application, given the options and the function that builds the app
in each worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def serve(build: Callable[[], Any], options: Mapping[str, Any]) -> None:
    """Serve ``build()`` (called in each worker) under gunicorn with ``options`` (gunicorn setting
    names) until stopped."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return build()

    Server().run()


__all__ = ["serve"]
