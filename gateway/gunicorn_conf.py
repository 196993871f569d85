"""Gunicorn settings of the gateway (``gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:app``,
as ``datamarket up`` runs it): gevent workers (:mod:`datamarket.gunicorn_worker`), so a slow reader
of a large CAR holds one greenlet, not a worker, and gunicorn's own error answers are JSON."""

from __future__ import annotations

from datamarket.gunicorn_worker import WORKER_CLASS, WORKER_CONNECTIONS

worker_class = WORKER_CLASS
worker_connections = WORKER_CONNECTIONS
#: Gunicorn's control socket has one path per user: several servers on one machine would share it.
control_socket_disable = True
