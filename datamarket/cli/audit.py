"""``datamarket audit``: a dataset's history from the chain alone, checked; a result's provenance.

Exit status: 0 when everything checks out, 1 when something fails verification (a problem, or a
disagreement with the backend), 2 when the audit could not be made (an unknown dataset, a node or
backend that does not answer, bad settings: reported as every command reports its errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datamarket.cli.errors import Command, Group
from datamarket.cli.output import json_option
from datamarket.cli.params import datatoken

FORMATS = ("table", "json", "csv")


class _AuditCommand(Command):
    """A command whose callback returns its exit status, and whose errors exit with 2, not 1, so
    that 1 means "the audit found something" only."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            status = super().invoke(ctx)
        except click.exceptions.Exit as exc:
            if exc.exit_code == 1:  # the error path's status for a DatamarketError
                raise click.exceptions.Exit(2) from None
            raise
        ctx.exit(status or 0)


class _AuditGroup(Group):
    """``audit DATASET`` is ``audit dataset DATASET``: the group's default command."""

    command_class = _AuditCommand

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["dataset", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=_AuditGroup)
def audit() -> None:
    """Check a dataset's history against the chain alone: `datamarket audit DATASET` (the same as
    `datamarket audit dataset DATASET`), or which receipt produced a result: `audit result FOLDER`.
    Exit status 0: all checks out; 1: something fails verification; 2: the audit could not be made."""


def _chain_id(dataset_id: str) -> int | None:
    """The chain id of ``eip155:<chain>/<address>``; None for a bare address."""
    if "/" not in dataset_id:
        return None
    prefix = dataset_id.rsplit("/", 1)[0]
    namespace, _, reference = prefix.partition(":")
    if namespace != "eip155" or not reference.isdigit():
        raise click.BadParameter(f"{dataset_id!r} is not eip155:<chain id>/<address>", param_hint="DATASET")
    return int(reference)


def _salt(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from datamarket.audit.provenance import SALT

    if value is None:
        return None
    salt = value.lower().removeprefix("0x")
    if SALT.fullmatch(salt) is None:
        raise click.BadParameter("the output salt is 64 hex digits")
    return salt


def _saved_salt(folder: Path) -> str:
    """The output salt `datamarket compute result` saved beside the outputs."""
    from datamarket.audit.provenance import saved_salt
    from datamarket.sdk.results import RESULT_RECORD

    salt = saved_salt(folder)
    if salt is None:
        raise click.BadParameter(
            f"FOLDER has no {RESULT_RECORD} with the output salt: pass --salt", param_hint="--salt"
        )
    return salt


def _connect(settings: Any) -> Any:
    from web3 import HTTPProvider, Web3

    from datamarket.audit.history import Chain

    w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    return Chain(w3, settings.market)


@audit.command("dataset")
@click.argument("dataset_id", metavar="DATASET")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table: for a person; json: the full report; csv: the timeline.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    help="Read the chain from this block, up to the dataset's publish (default: the market's deployment "
    "block, from the settings).",
)
@click.option(
    "--backend",
    "backend_url",
    metavar="URL",
    help="Also compare with what the backend at URL serves, at the block it has reached.",
)
@json_option("The full report as one JSON object (as --format json); errors as JSON too.")
def dataset(dataset_id, fmt, output, from_block, backend_url, as_json) -> int:
    """Rebuild DATASET's history (eip155:<chain>/<address> or its datatoken's address) from the chain,
    verify every metadata document against its on-chain hash and flag what is wrong."""
    from datamarket.audit import formats
    from datamarket.audit.audits import audit_dataset
    from datamarket.audit.comparison import http_fetch, safe_url
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    address, chain_id = datatoken(dataset_id), _chain_id(dataset_id)
    settings = load_settings().require("rpc_url", "market")
    report = audit_dataset(
        _connect(settings), address, store=open_store(settings.store) if settings.store else None,
        from_block=settings.market_deploy_block if from_block is None else from_block, chain_id=chain_id,
        backend=http_fetch(backend_url) if backend_url else None,
        backend_url=safe_url(backend_url) if backend_url else "",
    )  # fmt: skip
    if as_json or fmt == "json":
        import json

        text = json.dumps(formats.to_json(report), indent=None if as_json else 2, sort_keys=True) + "\n"
    elif fmt == "csv":
        text = formats.to_csv(report)
    else:
        text = "\n".join(formats.to_table(report)) + "\n"
    _write(text, output)
    if output is not None and not as_json:
        click.echo(formats.summary_line(report), err=True)
    return 0 if report.ok else 1


@audit.command("result")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--salt",
    callback=_salt,
    metavar="HEX",
    help="The result's output salt (64 hex digits), given with the result to its buyer; default: the "
    "one `datamarket compute result` saved in FOLDER.",
)
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    help="Look for receipts from this block on (default: the market's deployment block).",
)
@json_option()
def result(folder, salt, from_block, as_json) -> int:
    """Say which compute receipt on chain (job, dataset, algorithm, epsilon) produced the files in
    FOLDER, a job's released result; exit status 1 when none did."""
    import json

    from datamarket.audit.audits import trace_result
    from datamarket.audit.timeline import epsilon_text
    from datamarket.settings import load_settings

    if salt is None:
        salt = _saved_salt(folder)
    settings = load_settings().require("rpc_url", "market")
    start = settings.market_deploy_block if from_block is None else from_block
    found = trace_result(_connect(settings), folder, salt, from_block=start)
    receipts = [
        {
            "job_id": r.job_id,
            "dataset": f"eip155:{found.chain_id}/{r.datatoken}",
            "datatoken": r.datatoken,
            "order_id": r.order_id,
            "algorithm_hash": r.algorithm_hash,
            "epsilon": epsilon_text(r.epsilon),
            "status": r.status.name,
            "poster": r.poster,
            "tx_hash": r.meta.tx_hash,
            "block_number": r.meta.block_number,
        }
        for r in found.receipts
    ]
    payload = {"folder": found.folder, "output_hash": found.output_hash, "files": found.files,
               "receipts": receipts, "blocks": {"from": found.from_block, "to": found.to_block}}  # fmt: skip
    if as_json:
        click.echo(json.dumps(payload, sort_keys=True))
    else:
        click.echo(f"{len(found.files)} file(s) in {found.folder}: output hash {found.output_hash}")
        for r in receipts:
            click.echo(
                f"produced by job {r['job_id']} ({r['status']}) on {r['dataset']}, order {r['order_id']}: "
                f"algorithm {r['algorithm_hash']}, epsilon {r['epsilon']}; receipt in tx {r['tx_hash']}, "
                f"block {r['block_number']}"
            )
        if not receipts:
            click.echo(f"no receipt in blocks {found.from_block}..{found.to_block} has this output hash")
    return 0 if receipts else 1


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from datamarket.atomic_files import PUBLIC, write_atomically
    from datamarket.cli.errors import CommandError

    try:
        write_atomically(output, text.encode(), mode=PUBLIC)
    except OSError as exc:
        raise CommandError(
            f"cannot write the report to {output}: {exc.strerror}", code="output_error"
        ) from None


__all__ = ["audit"]
