from __future__ import annotations

import socket

import pytest

from tests.unit.conftest import NetworkUsedInUnitTest


def test_unit_tests_cannot_open_connections() -> None:
    with pytest.raises(NetworkUsedInUnitTest):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
