"""``datamarket compute ...``: start a job on a dataset, follow it, fetch its result.

Jobs are saved under the client's home (``DATAMARKET_HOME``, default ``.datamarket``) in
``jobs/<job id>.json``, mode 0600: each holds the job's bearer token and the one-time key its result
is encrypted to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from datamarket.cli import context
from datamarket.cli.errors import Group
from datamarket.cli.job_params import dataset_argument, job_argument, params_option, parse_output_option
from datamarket.cli.job_status import ProgressLine, status_lines, status_payload
from datamarket.cli.output import emit, json_option


def jobs_dir() -> Path:
    """``<client home>/jobs``: the home is the local market's (``DATAMARKET_HOME`` or ``.datamarket``)."""
    from datamarket.settings import client_home

    return client_home() / "jobs"


@click.group(cls=Group)
def compute() -> None:
    """Run algorithms on datasets you cannot download, and fetch their results."""


@compute.command()
@click.argument("dataset", callback=dataset_argument)
@click.option(
    "--algorithm", "-a", required=True, metavar="NAME_OR_PATH",
    help="A built-in algorithm's name, or an algorithm file or folder (published as a bundle).",
)  # fmt: skip
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", callback=params_option,
    help="An algorithm parameter (repeat for more); VALUE is JSON when it parses, else a string.",
)  # fmt: skip
@click.option("--epsilon", type=click.FloatRange(min=0), default=None, help="Privacy budget this job spends.")
@click.option("--gpu", is_flag=True, help="Run on the provider's GPU environment.")
@click.option(
    "--output-shape", default=None, metavar="D1,D2,...",
    help="Sample and aggregate (an algorithm the dataset does not trust): the output's shape.",
)  # fmt: skip
@click.option(
    "--output-bounds", default=None, metavar="LO:HI|FILE",
    help='Bounds of every coordinate, or a JSON file {"lower": [...], "upper": [...]} (one per coordinate).',
)  # fmt: skip
@click.option(
    "--output-format", type=click.Choice(["json", "safetensors"]), default="json", show_default=True,
    help="What the algorithm writes: /out/output.json or /out/output.safetensors.",
)  # fmt: skip
@click.option("--order-tx", default=None, help="Use this existing compute order instead of ordering now.")
@click.option("--order-id", type=click.IntRange(min=0), default=None,
              help="With --order-tx: which of the transaction's orders (when it holds several).")  # fmt: skip
@click.option("--wait/--no-wait", default=False, help="Follow the job until it ends.", show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, help="With --wait: give up after S seconds."
)
@context.account_option
@json_option()
def start(dataset, algorithm, params, epsilon, gpu, output_shape, output_bounds, output_format, order_tx,
          order_id, wait, timeout, dev_index, as_json) -> None:  # fmt: skip
    """Order DATASET's compute service and start a job on it; prints the job id."""
    from datamarket.sdk import jobs as flows

    output = parse_output_option(output_shape, output_bounds, output_format)
    _, market, store, provider = context.connect(context.signer(dev_index, context.CONSUMER))
    handle = flows.start_job(
        market, provider, store, dataset,
        algorithm=algorithm, params=params,
        epsilon=epsilon, environment="gpu" if gpu else "cpu", order_tx=order_tx, order_id=order_id,
        jobs_dir=jobs_dir(),
        output=output,
    )  # fmt: skip
    click.echo(f"job {handle.job_id}", err=as_json)
    payload: dict[str, Any] = {
        "job_id": handle.job_id,
        "state": handle.state,
        "order_tx": handle.order_tx,
        "order_id": handle.order_id,
        "dataset": handle.dataset,
        "algorithm": handle.job["algorithm"],
        "environment": handle.job["environment"],
        "epsilon": {"requested": handle.job["epsilon"], "charged": None},
        "job_file": str(handle.path),
    }
    if not wait:
        emit(as_json, payload, [f"  state   {handle.state}",
                                f"  order   {handle.order_id} in {handle.order_tx}"])  # fmt: skip
        return
    line = ProgressLine(not as_json)
    try:
        final = flows.wait(handle, on_update=line, timeout=timeout)
    finally:
        line.close()
    payload.update(status_payload(handle, final))
    lines = [f"job {handle.job_id} {final.get('state')}"]
    if final.get("error"):
        lines.append(f"  error   {final['error'].get('code')}: {final['error'].get('message')}")
    if final.get("receipt"):
        lines.append(f"  receipt {final['receipt'].get('tx')}")
    emit(as_json, payload, lines)
    if final.get("state") != "succeeded":
        sys.exit(1)


@compute.command()
@job_argument
@json_option()
def status(job, as_json) -> None:
    """Show JOB's state, progress, timings, epsilon, error and receipt."""
    from datamarket.sdk import jobs as flows
    from datamarket.sdk.job_files import load_job

    handle = load_job(jobs_dir(), job)
    payload = status_payload(handle, flows.status(handle))
    emit(as_json, payload, status_lines(payload))


@compute.command()
@job_argument
@json_option()
def logs(job, as_json) -> None:
    """Print JOB's logs (released only once its outputs passed the output policy)."""
    from datamarket.sdk import jobs as flows
    from datamarket.sdk.job_files import load_job

    handle = load_job(jobs_dir(), job)
    answer = flows.logs(handle)
    text = answer.get("logs") or ""
    lines = [text.rstrip("\n")] if text else []
    if answer.get("truncated"):
        lines.append("(logs truncated)")
    if not text and answer.get("state") not in flows.FINAL_STATES:
        lines.append(f"(no logs yet: the job is {answer.get('state')})")
    emit(as_json, {**answer, "job_id": handle.job_id}, lines)


@compute.command()
@job_argument
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@json_option()
def result(job, output, as_json) -> None:
    """Fetch JOB's result, decrypt it, check it and extract its files into OUTPUT."""
    from datamarket.sdk.job_files import load_job
    from datamarket.sdk.results import fetch_result
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    handle = load_job(jobs_dir(), job)
    settings = load_settings()
    store = open_store(settings.store) if settings.store else None
    files = fetch_result(handle, store, output)
    outputs = [_describe(output, f) for f in files]
    lines = [f"{len(files)} file(s) in {output}"] + [f"  {o['path']}  {o['size']} B" for o in outputs]
    payload: dict[str, Any] = {"job_id": handle.job_id, "outputs": outputs, "dir": str(output)}
    released = output / "aggregate.json"
    if handle.job.get("output") is not None and released.is_file():
        # Sample and aggregate: the one released file is the noisy aggregate; show it.
        aggregate = json.loads(released.read_text())
        payload["aggregate"] = aggregate
        lines += [
            f"aggregate  epsilon {aggregate.get('epsilon')}, {aggregate.get('mechanism')} noise of scale "
            f"{aggregate.get('noise_scale')}, k = {aggregate.get('blocks')}",
            f"  values   {json.dumps(aggregate.get('values'))}",
        ]
    emit(as_json, payload, lines)


def _describe(root: Path, file: Path) -> dict[str, Any]:
    import hashlib

    digest = hashlib.sha256()
    with open(file, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return {
        "path": file.relative_to(root).as_posix(),
        "file": str(file),
        "size": file.stat().st_size,
        "sha256": digest.hexdigest(),
    }


@compute.command()
@job_argument
@json_option()
def cancel(job, as_json) -> None:
    """Stop JOB (its sandbox is killed and cleaned up); a job cancelled before it ran is charged no
    epsilon, one cancelled while running is charged its epsilon (it may have read the data)."""
    from datamarket.sdk import jobs as flows
    from datamarket.sdk.job_files import load_job

    handle = load_job(jobs_dir(), job)
    answer = flows.cancel(handle)
    payload = {**answer, "job_id": handle.job_id, "state": answer.get("state")}
    emit(as_json, payload, [f"job {handle.job_id} {answer.get('state')}"])


__all__ = ["compute", "jobs_dir"]
