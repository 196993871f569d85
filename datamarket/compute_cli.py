"""``datamarket compute ...``, ``datamarket privacy`` and ``datamarket algorithm ...``.

Registered in ``datamarket.cli`` (loaded only when used). Jobs are saved under the client's home
(``DATAMARKET_HOME``, default ``.datamarket``) in ``jobs/<job id>.json``, mode 0600: each holds the
job's bearer token and the one-time key its result is encrypted to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from datamarket.cli import _context, _datatoken, _emit, _handle_errors, _local, account_option, json_option


def jobs_dir() -> Path:
    """``<client home>/jobs``: the home is the local market's (``DATAMARKET_HOME`` or ``.datamarket``)."""
    from datamarket.settings import client_home

    return client_home() / "jobs"


def parse_params(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; a value is JSON when it parses as JSON (not NaN or Infinity),
    otherwise the string itself."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        if key in params:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="--param")
        try:
            params[key] = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            params[key] = raw
    return params


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _params_option(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    return parse_params(value)


def parse_output_option(shape: str | None, bounds: str | None, fmt: str) -> dict[str, Any] | None:
    """The job's output spec from ``--output-shape 2,3`` and ``--output-bounds LO:HI`` (one pair for
    every coordinate) or ``--output-bounds FILE`` (JSON ``{"lower": [...], "upper": [...]}``)."""
    from datamarket.output_spec import InvalidOutputSpec, parse_output_spec

    if shape is None and bounds is None:
        return None
    if shape is None or bounds is None:
        raise click.UsageError("--output-shape and --output-bounds go together")
    try:
        dims = [int(d) for d in shape.split(",")] if shape.strip() else []
    except ValueError:
        raise click.BadParameter(f"{shape!r} is not a list of integers such as 31 or 2,3") from None
    path = Path(bounds)
    if path.is_file():
        try:
            data = json.loads(path.read_text(), parse_constant=_no_constant)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{bounds}: not a JSON file ({exc})") from None
        if not isinstance(data, dict) or set(data) != {"lower", "upper"}:
            raise click.BadParameter(f'{bounds}: expected {{"lower": [...], "upper": [...]}}')
        lower, upper = data["lower"], data["upper"]
    else:
        low, sep, high = bounds.rpartition(":")
        try:
            if not sep:
                raise ValueError
            lower, upper = float(low), float(high)
        except ValueError:
            raise click.BadParameter(f"{bounds!r} is neither LO:HI (such as -5:5) nor a JSON file") from None
    try:
        return parse_output_spec({"format": fmt, "shape": dims, "lower": lower, "upper": upper})
    except InvalidOutputSpec as exc:
        raise click.BadParameter(exc.message) from None


def _dataset_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    return _datatoken(value)


def _job_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from datamarket.sdk.job_files import JOB_ID

    job_id = value.strip().lower()
    if JOB_ID.fullmatch(job_id) is None:
        raise click.BadParameter(f"{value!r} is not a job id (32 hex digits)")
    return job_id


job_argument = click.argument("job", callback=_job_argument)


def _progress_text(status: dict[str, Any]) -> str:
    progress = status.get("progress")
    shown = f"{progress * 100:5.1f}%" if isinstance(progress, int | float) and 0 <= progress <= 1 else ""
    return f"{status.get('state', '?'):<10} {shown}".rstrip()


class _ProgressLine:
    """One live line on stderr: rewritten in place on a terminal, a new line per change elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, status: dict[str, Any]) -> None:
        text = _progress_text(status)
        if not self.enabled or text == self.last:
            return
        if self.tty:
            click.echo("\r" + text.ljust(len(self.last)), nl=False, err=True)
        else:
            click.echo(text, err=True)
        self.last = text

    def close(self) -> None:
        if self.enabled and self.tty and self.last:
            click.echo("", err=True)


def _status_payload(handle: Any, status: dict[str, Any]) -> dict[str, Any]:
    return {
        **status,
        "job_id": handle.job_id,
        "state": status.get("state"),
        "timings": status.get("timings") or {},
        "epsilon": status.get("epsilon"),
        "progress": status.get("progress"),
        "error": status.get("error"),
        "receipt": status.get("receipt"),
    }


def _status_lines(status: dict[str, Any]) -> list[str]:
    lines = [f"job        {status['job_id']}", f"state      {_progress_text(status)}"]
    algorithm = status.get("algorithm")
    if algorithm is not None:
        shown = algorithm if isinstance(algorithm, str) else f"bundle {algorithm.get('sha256', '?')}"
        lines.append(f"algorithm  {shown}")
    epsilon = status.get("epsilon")
    if isinstance(epsilon, dict):
        lines.append(f"epsilon    requested {epsilon.get('requested')}, charged {epsilon.get('charged')}")
    timings = status.get("timings") or {}
    if timings:
        lines.append("timings    " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if _number(v)))
    error = status.get("error")
    if error:
        lines.append(f"error      {error.get('code')}: {error.get('message')}")
    receipt = status.get("receipt")
    if receipt:
        lines.append(f"receipt    {receipt.get('tx')} (block {receipt.get('block')})")
    return lines


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------- compute


@click.group()
def compute() -> None:
    """Run algorithms on datasets you cannot download, and fetch their results."""


@compute.command()
@click.argument("dataset", callback=_dataset_argument)
@click.option(
    "--algorithm", "-a", required=True, metavar="NAME_OR_PATH",
    help="A built-in algorithm's name, or an algorithm file or folder (published as a bundle).",
)  # fmt: skip
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", callback=_params_option,
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
@account_option
@json_option
@_handle_errors
def start(dataset, algorithm, params, epsilon, gpu, output_shape, output_bounds, output_format, order_tx,
          order_id, wait, timeout, dev_index, as_json) -> None:  # fmt: skip
    """Order DATASET's compute service and start a job on it; prints the job id."""
    from datamarket.sdk import jobs as flows

    output = parse_output_option(output_shape, output_bounds, output_format)
    _, market, store, provider = _context(4 if dev_index is None and _local() else dev_index)
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
        _emit(as_json, payload, [f"  state   {handle.state}",
                                 f"  order   {handle.order_id} in {handle.order_tx}"])  # fmt: skip
        return
    line = _ProgressLine(not as_json)
    try:
        final = flows.wait(handle, on_update=line, timeout=timeout)
    finally:
        line.close()
    payload.update(_status_payload(handle, final))
    lines = [f"job {handle.job_id} {final.get('state')}"]
    if final.get("error"):
        lines.append(f"  error   {final['error'].get('code')}: {final['error'].get('message')}")
    if final.get("receipt"):
        lines.append(f"  receipt {final['receipt'].get('tx')}")
    _emit(as_json, payload, lines)
    if final.get("state") != "succeeded":
        sys.exit(1)


@compute.command()
@job_argument
@json_option
@_handle_errors
def status(job, as_json) -> None:
    """Show JOB's state, progress, timings, epsilon, error and receipt."""
    from datamarket.sdk import jobs as flows
    from datamarket.sdk.job_files import load_job

    handle = load_job(jobs_dir(), job)
    payload = _status_payload(handle, flows.status(handle))
    _emit(as_json, payload, _status_lines(payload))


@compute.command()
@job_argument
@json_option
@_handle_errors
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
    _emit(as_json, {**answer, "job_id": handle.job_id}, lines)


@compute.command()
@job_argument
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@json_option
@_handle_errors
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
    _emit(as_json, payload, lines)


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
@json_option
@_handle_errors
def cancel(job, as_json) -> None:
    """Stop JOB (its sandbox is killed and cleaned up); a job cancelled before it ran is charged no
    epsilon, one cancelled while running is charged its epsilon (it may have read the data)."""
    from datamarket.sdk import jobs as flows
    from datamarket.sdk.job_files import load_job

    handle = load_job(jobs_dir(), job)
    answer = flows.cancel(handle)
    payload = {**answer, "job_id": handle.job_id, "state": answer.get("state")}
    _emit(as_json, payload, [f"job {handle.job_id} {answer.get('state')}"])


# ------------------------------------------------------------------------------------- privacy


@click.command()
@click.argument("dataset", callback=_dataset_argument)
@json_option
@_handle_errors
def privacy(dataset, as_json) -> None:
    """Show DATASET's privacy budget: spent, reserved by running jobs, remaining."""
    from datamarket.sdk.provider_client import ProviderClient
    from datamarket.settings import load_settings

    settings = load_settings().require("provider_url")
    answer = ProviderClient(settings.provider_url).privacy(dataset)
    lines = [f"{name:<10}{answer.get(name)}" for name in ("budget", "spent", "reserved", "remaining")]
    _emit(as_json, answer, [f"dataset   {answer.get('datatoken', dataset)}", *lines])


# ----------------------------------------------------------------------------------- algorithm


@click.group()
def algorithm() -> None:
    """Algorithm bundles: their hash (for a publisher to trust) and publishing them."""


@algorithm.command("hash")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option
@_handle_errors
def hash_(path, as_json) -> None:
    """Print the bundle hash of the algorithm file or folder PATH (what --trust-algorithm takes)."""
    from datamarket.sdk.jobs import pack_bundle

    data, digest = pack_bundle(path)
    _emit(as_json, {"sha256": digest, "size": len(data), "path": str(path)}, [digest])


@algorithm.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option
@_handle_errors
def publish(path, as_json) -> None:
    """Add the bundle of the algorithm file or folder PATH to the content store."""
    from datamarket.sdk.jobs import publish_bundle
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    settings = load_settings().require("store")
    cid, digest, size = publish_bundle(open_store(settings.store), path)
    _emit(as_json, {"cid": cid, "sha256": digest, "size": size}, [f"cid     {cid}", f"sha256  {digest}"])


__all__ = ["algorithm", "compute", "jobs_dir", "parse_params", "privacy"]
