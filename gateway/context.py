"""What the gateway's views share: the content store and the limits of one CAR answer."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from datamarket.storage.base import BlockStore
from datamarket.storage.traversal import WalkLimits

EXTENSION = "datamarket.gateway"


@dataclass(frozen=True)
class GatewayContext:
    store: BlockStore
    limits: WalkLimits


def current() -> GatewayContext:
    return current_app.extensions[EXTENSION]
