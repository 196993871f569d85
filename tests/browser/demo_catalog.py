"""The catalog the browser tests browse: one realistic dataset, seeded here and only here.

Today the rows come from ``Catalog`` (rows as the indexer writes them). To browse a catalog the real
indexer filled from a real chain instead, replace :func:`seed` and keep what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from tests.unit.backend.api.catalog_rows import CHAIN_ID, ONE, Catalog, consumer, publisher

DAY = 86400
T0 = 1_717_286_400  # 2024-06-02 00:00 UTC


@dataclass(frozen=True)
class Demo:
    chain_id: int
    datatoken: str
    name: str
    price_text: str
    orders: list[int]
    job_id: str
    consumer: str
    publisher: str


def seed(engine: Engine) -> Demo:
    """A published dataset with a valid document (profile included) and a price, two orders on two
    days, and one compute receipt."""
    catalog = Catalog(engine, chain_id=CHAIN_ID)
    name = "Heart disease (Cleveland)"
    dt = catalog.publish(name, price=5 * ONE, tags=["health", "cardiology"]).datatoken
    first = catalog.buy_and_order(dt, timestamp=T0 + 3600)
    second = catalog.buy_and_order(dt, timestamp=T0 + DAY + 7200, service_id=1)
    job = catalog.receipt(dt, second, epsilon=1.0)
    catalog.publish(
        "Taxi trips 2023", description="City taxi trips.", tags=["transport"], columns=[], price=0
    )
    return Demo(CHAIN_ID, dt, name, "5,000,000,000,000,000,000 base units", [first, second], job, consumer(),
                publisher())  # fmt: skip
