"""Gunicorn settings of the backend's API and pages (``gunicorn -c python:backend.gunicorn_conf
backend.wsgi:app``, as ``datamarket up`` runs it): gevent workers (:mod:`datamarket.gunicorn_worker`),
so a client that trickles its request holds one greenlet, not a worker, and gunicorn's own error
answers are JSON like the API's."""

from __future__ import annotations

from datamarket.gunicorn_worker import WORKER_CLASS, WORKER_CONNECTIONS

worker_class = WORKER_CLASS
worker_connections = WORKER_CONNECTIONS
#: Gunicorn's control socket has one path per user: several servers on one machine would share it.
control_socket_disable = True
