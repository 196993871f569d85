"""One line of text for each event a dataset's history holds, for the audit's timeline."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from datamarket.chain import events as ev
from datamarket.chain.market import MICRO
from datamarket.chain.quotes import ZERO_ADDRESS


def epsilon_text(units: int) -> str:
    """Micro-epsilon units (as the contracts hold them) as a decimal epsilon: 250000 -> ``0.25``."""
    return format((Decimal(units) / MICRO).normalize(), "f")


def _transfer(e: ev.Transfer) -> str:
    if e.from_ == ZERO_ADDRESS:
        return f"minted {e.value} to {e.to}"
    if e.to == ZERO_ADDRESS:
        return f"burned {e.value} of {e.from_}"
    return f"{e.from_} sent {e.value} to {e.to}"


_TEXTS: dict[type, Callable[[Any], str]] = {
    ev.DatasetPublished: lambda e: (
        f"published by {e.publisher}, provider {e.provider}, services {e.services:#b}, "
        f"epsilon budget {epsilon_text(e.epsilon_budget)}, metadata {e.metadata_cid}"
    ),
    ev.PriceSet: lambda e: f"price {e.price} of {e.payment_token} (cap {e.cap})",
    ev.DispenserSet: lambda e: f"free: {e.limit} per account from the dispenser (cap {e.cap})",
    ev.PublishFeeSet: lambda e: f"publish fee {e.bps} bps to {e.collector}",
    ev.MetadataUpdated: lambda e: f"metadata updated by {e.updated_by}: {e.metadata_cid}",
    ev.DatasetStateChanged: lambda e: f"state {e.from_.name} -> {e.to.name}",
    ev.AllowlistSet: lambda e: f"allowlist root {e.root}",
    ev.MetadataUpdaterSet: lambda e: f"metadata updater {e.updater}",
    ev.MinterSet: lambda e: f"minter {e.account} {'allowed' if e.allowed else 'removed'}",
    ev.MintersCleared: lambda e: "minters cleared",
    ev.ProviderChangeStarted: lambda e: f"provider change proposed: {e.provider} -> {e.new_provider}",
    ev.ProviderChanged: lambda e: f"provider changed: {e.from_} -> {e.to}",
    ev.DatasetTransferStarted: lambda e: f"{e.from_} offered the dataset to {e.to}",
    ev.DatasetTransferred: lambda e: f"dataset transferred: {e.from_} -> {e.to}",
    ev.PrivacyBudgetRaised: lambda e: (
        f"epsilon budget raised {epsilon_text(e.from_)} -> {epsilon_text(e.to)}"
    ),
    ev.Minted: lambda e: f"{e.by} minted {e.amount} to {e.to}",
    ev.Dispensed: lambda e: f"dispensed {e.amount} to {e.to}",
    ev.Bought: lambda e: (
        f"{e.buyer} bought {e.amount} for {e.cost} of {e.payment_token} "
        f"(market fee {e.market_fee}, publish fee {e.publish_fee})"
    ),
    ev.OrderStarted: lambda e: (
        f"order {e.order_id} by {e.consumer} for service {e.service_id}, paid by {e.payer} "
        f"({e.funding.name}), provider fee {e.fee_amount} of {e.fee_token}"
    ),
    ev.ComputeReceiptPosted: lambda e: (
        f"receipt of job {e.job_id} (order {e.order_id}): {e.status.name}, epsilon "
        f"{epsilon_text(e.epsilon)}, spent {epsilon_text(e.spent_after)}, output {e.output_hash}"
    ),
    ev.Transfer: _transfer,
}


def describe(event: Any) -> str:
    """What ``event`` did, in one line."""
    text = _TEXTS.get(type(event))
    if text is None:
        return ", ".join(f"{k} {v}" for k, v in ev.event_args(event).items())
    return text(event)


__all__ = ["describe", "epsilon_text"]
