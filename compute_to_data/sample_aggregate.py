"""The worker's path for an algorithm the dataset does not trust: sample and aggregate
(docs/privacy.md). :func:`applies` decides the mode from the dataset's document as it is now,
never from anything the buyer sent; :func:`run` takes over a job after its data is staged.

What leaves: one file, ``aggregate.json`` (the noisy average, epsilon, mechanism, k, sensitivity),
encrypted to the consumer like any result. No logs, no progress between 0 and 1, no exit status and
no per-block error: every block's failure becomes the bounds' midpoint and the job succeeds. Each
block runs in its own fixed time slot and waits out the rest of it, so the running phase lasts k
slots whatever the blocks did.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from datamarket.jobs.store import CHECKING, PUBLISHING, RUNNING, STAGING, Job
from datamarket.metadata.resolve import DatasetDocument
from datamarket.output_spec import InvalidOutputSpec, OutputSpec, blocks_of

from . import aggregate, runner, sandbox

log = logging.getLogger("datamarket.compute")

RESULT_NAME = "aggregate.json"
#: Part of each slot the block may run; the rest covers starting and tearing down the sandbox.
RUN_SHARE = 0.8


def applies(ctx: runner.WorkerContext, job: Job, doc: DatasetDocument) -> bool:
    """Whether ``job`` runs under sample and aggregate: a published bundle that the dataset, as its
    document says now, does not trust, on a dataset that allows any algorithm. (A bundle it trusts
    runs the ordinary path; one neither trusted nor allowed is refused by ``stage_algorithm``.)"""
    if isinstance(job.algorithm, str):
        return False
    compute = (doc.service(job.service_id) or {}).get("compute") or {}
    trusted = job.algorithm["sha256"] in compute.get("trusted_algorithms", ())
    return not trusted and bool(compute.get("allow_any_algorithm"))


def _spec(job: Job) -> OutputSpec:
    if job.output is None:
        raise runner.JobFailure(
            "output_spec_required",
            "the dataset does not trust this algorithm: it runs only under sample and aggregate, "
            "which needs the job's output spec",
        )
    try:
        return OutputSpec.from_json(job.output)
    except InvalidOutputSpec as exc:
        raise runner.JobFailure(exc.code, exc.message, details=exc.details) from None


def run(
    ctx: runner.WorkerContext,
    job: Job,
    workdir: Path,
    doc: DatasetDocument,
    files: list[Path],
    cancel: threading.Event,
) -> dict[str, Any]:
    """Split, run every block, release the noisy aggregate; returns the succeeded row's values."""
    spec = _spec(job)
    epsilon = job.epsilon_units / 1e6 if job.epsilon_units else 0.0
    if not epsilon > 0:
        raise runner.JobFailure("epsilon_required", "an untrusted algorithm runs only with an epsilon > 0")
    if doc.file.get("content_type") != "text/csv" or len(files) != 1:
        raise runner.JobFailure(
            "aggregate_data_unsupported", "sample and aggregate splits CSV tables only (text/csv)"
        )
    compute = (doc.service(job.service_id) or {}).get("compute") or {}
    k = blocks_of(compute)
    data_dir, job_dir, out_dir = workdir / "data", workdir / "job", workdir / "out"
    try:
        header, rows = aggregate.read_rows(files[0])
    except aggregate.UnsupportedData as exc:
        raise runner.JobFailure(exc.code, str(exc)) from None
    runner.stage_algorithm(ctx, job, job_dir / "algorithm", doc)
    blocks = aggregate.split_rows(rows, k)
    del rows
    # The blocks replace the whole table on a tmpfs of their own size (the header repeats k times).
    size = files[0].stat().st_size
    sandbox.release_output(data_dir)
    for child in list(data_dir.iterdir()):
        child.unlink()
    sandbox.prepare_output(data_dir, 2 * size + k * (len(",".join(header)) + 64) + (1 << 20))
    block_dirs = []
    for i, block in enumerate(blocks):
        block_dir = data_dir / f"block-{i}"
        block_dir.mkdir(mode=0o755)
        target = block_dir / files[0].name
        aggregate.write_block(target, header, block)
        os.chmod(target, 0o444)
        block_dirs.append(block_dir)
    del blocks
    if cancel.is_set():
        raise runner.Stopped
    runner._step(ctx, job, STAGING, RUNNING)

    outputs = run_blocks(ctx, job, workdir, block_dirs, spec, cancel)

    release = aggregate.release(outputs, spec, epsilon)
    runner._step(ctx, job, RUNNING, CHECKING)
    sandbox.prepare_output(out_dir, 1 << 20)
    result_file = out_dir / RESULT_NAME
    result_file.write_text(json.dumps(release.to_json(), sort_keys=True, allow_nan=False))
    runner._step(ctx, job, CHECKING, PUBLISHING)
    result_doc = runner.publish_outputs(ctx, job, out_dir)
    return {
        "result": result_doc,
        "output_hash": result_doc["output_hash"],
        "logs": "",
        "logs_truncated": False,
        "progress": 1.0,
    }


def run_blocks(
    ctx: runner.WorkerContext,
    job: Job,
    workdir: Path,
    block_dirs: list[Path],
    spec: OutputSpec,
    cancel: threading.Event,
) -> list[np.ndarray | None]:
    """Each block in the sandbox, in its own slot of ``ctx.aggregate_slot_s``; its output or None."""
    slot = ctx.aggregate_slot_s
    limits = _block_limits(ctx.limits, slot)
    job_dir = workdir / "job"
    python = ctx.python or Path(os.sys.executable)
    outputs: list[np.ndarray | None] = []
    start = time.monotonic()
    for i, block_dir in enumerate(block_dirs):
        params = {
            "params": job.params,
            "epsilon": None,
            "delta": job.delta,
            "device": "cpu",
            "files": [f"/data/{p.name}" for p in block_dir.iterdir()],
            "seed": secrets.randbits(31),
        }
        (job_dir / "params.json").write_text(json.dumps(params, sort_keys=True))
        # A folder of its own for each block's /out and logs, removed before the next block starts:
        # where /out cannot be a fresh tmpfs (a worker that is not root) a shared folder would let a
        # block leave its rows to the next one, and one row would then move several outputs.
        block_out, log_path = workdir / f"out-{i}", workdir / f"block-{i}.log"
        try:
            sandbox.prepare_output(block_out, limits.output_bytes)
            spec_ = sandbox.SandboxSpec(
                argv=(str(python), "/job/algorithm/main.py"),
                data_dir=block_dir,
                job_dir=job_dir,
                out_dir=block_out,
                log_path=log_path,
                limits=limits,
                name=f"job-{job.id}-b{i}",
                python=python,
            )
            try:
                result = sandbox.run(spec_, cancel=cancel)
            except sandbox.SandboxError as exc:
                if exc.code != "sandbox_cleanup":
                    raise  # the sandbox could not run at all: the provider's failure, not the block's
                # The block's processes or files outlived it: the block's doing, so its midpoint.
                log.warning("job %s: a block's clean-up failed; it counts as the midpoint", job.id)
                result = None
            if cancel.is_set() or (result is not None and result.reason == "cancelled"):
                raise runner.Stopped
            ok = result is not None and result.reason == "exited" and result.exit_code == 0
            outputs.append(aggregate.read_block_output(block_out, spec) if ok else None)
        finally:
            # Nothing of a block outlives it: its output folder, its logs (never read) and its data.
            sandbox.release_output(block_out)
            shutil.rmtree(block_out, ignore_errors=True)
            log_path.unlink(missing_ok=True)
        _wait_until(start + (i + 1) * slot, cancel)
    return outputs


def _block_limits(limits: sandbox.Limits, slot: float) -> sandbox.Limits:
    run_s = max(slot * RUN_SHARE, 1.0)
    return sandbox.Limits(
        wall_time_s=run_s,
        cpu_time_s=max(int(run_s), 1),
        memory_bytes=limits.memory_bytes,
        output_bytes=min(limits.output_bytes, 4 * aggregate.MAX_OUTPUT_BYTES),
        tmp_bytes=limits.tmp_bytes,
        file_size_bytes=min(limits.file_size_bytes, 4 * aggregate.MAX_OUTPUT_BYTES),
        open_files=limits.open_files,
        processes=limits.processes,
        log_bytes=limits.log_bytes,
    )


def _wait_until(deadline: float, cancel: threading.Event) -> None:
    """Sleep to the end of the block's slot: how long a block ran must not show in the job's timing."""
    left = deadline - time.monotonic()
    if left > 0 and cancel.wait(left):
        raise runner.Stopped


__all__ = ["RESULT_NAME", "applies", "run", "run_blocks"]
