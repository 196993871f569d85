"""Unit tests need no network: any attempt to open an IP connection fails the test."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class NetworkUsedInUnitTest(RuntimeError):
    pass


def _refusing(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise NetworkUsedInUnitTest(f"unit tests must not use the network (connect to {address!r})")
        return original(self, address)

    return connect


# Module scope rather than function scope: Hypothesis refuses function-scoped fixtures around @given.
@pytest.fixture(autouse=True, scope="module")
def no_network() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refusing(socket.socket.connect))
        patch.setattr(socket.socket, "connect_ex", _refusing(socket.socket.connect_ex))
        yield
