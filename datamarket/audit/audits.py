"""The two audits, from a node (and a content store, and a backend) to a report: the I/O around
:func:`datamarket.audit.report.build_report` and :mod:`datamarket.audit.provenance`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamarket.audit import comparison, documents, history, provenance
from datamarket.audit.errors import AuditError, ResultFolderError
from datamarket.audit.report import AuditReport, Scope, build_report
from datamarket.chain import events as ev
from datamarket.chain.logs import LogFetcher
from datamarket.storage.base import ContentStore


def audit_dataset(
    chain: history.Chain,
    datatoken: str,
    *,
    store: ContentStore | None,
    from_block: int = 0,
    chain_id: int | None = None,
    backend: comparison.Fetch | None = None,
    backend_url: str = "",
) -> AuditReport:
    """``datatoken``'s report from the node's blocks ``from_block`` to its head, or to the backend's
    block when ``backend`` is given (the report then holds the comparison)."""
    found_chain = chain.check_chain(chain_id)
    head = chain.head()
    answer = comparison.read_backend(backend, datatoken) if backend is not None else None
    to_block = head
    if answer is not None:
        if answer.block.number > head:
            raise AuditError(
                f"the backend is at block {answer.block.number}, ahead of the node's head {head}: "
                "audit with a node that has caught up"
            )
        to_block = answer.block.number
    if from_block > to_block:
        raise AuditError(f"--from-block {from_block} is after block {to_block}, the last one audited")
    chain.check_dataset(datatoken, to_block)
    read = history.read_history(chain, datatoken, from_block=from_block, to_block=to_block)
    dataset = read.state.datasets[datatoken]
    checks = documents.check_versions(store, ((v.cid, v.hash) for v in dataset.metadata_versions))
    scope = Scope(found_chain, chain.market.address, datatoken, from_block, to_block, read.complete)
    report = build_report(scope, read.state, read.events, read.blocks, checks)
    if backend is not None:
        block = chain.rpc.block(to_block)
        report.comparison = comparison.compare(
            report, answer, url=backend_url, head=head, block_hash=block.hash if block else ""
        )
    return report


@dataclass(frozen=True)
class Provenance:
    folder: str
    output_hash: str
    files: list[dict[str, Any]]
    receipts: list[ev.ComputeReceiptPosted]
    chain_id: int
    from_block: int
    to_block: int


def trace_result(chain: history.Chain, folder: Path, salt: str, *, from_block: int = 0) -> Provenance:
    """The receipts on chain whose output hash is the one of ``folder``'s files with ``salt``."""
    salt = salt.lower().removeprefix("0x")
    if provenance.SALT.fullmatch(salt) is None:
        raise ResultFolderError("the output salt is 64 hex digits")
    files = provenance.manifest(folder)
    if not files:
        raise ResultFolderError(f"{folder} holds no files")
    digest = provenance.output_hash(files, salt)
    found_chain = chain.check_chain(None)
    head = chain.head()
    query = {"address": chain.market.address, "topics": [ev.topic_of("ComputeReceiptPosted")]}
    logs = LogFetcher(chain.rpc).get_logs(query, from_block, head)
    # A log marked removed is a node's answer during a reorganisation: not on chain.
    events = [e for log in logs if not log.get("removed") and (e := ev.decode_log(log)) is not None]
    receipts = provenance.receipts_for(events, chain.market.address, digest)
    return Provenance(str(folder), "0x" + digest, files, receipts, found_chain, from_block, head)


__all__ = ["Provenance", "audit_dataset", "trace_result"]
