"""``sample_aggregate.run_blocks`` with a stand-in for the sandbox (the real one runs in
tests/security/test_sample_aggregate.py): what one block leaves behind never reaches the next, and a
block whose clean-up fails counts as the midpoint instead of failing the job."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from compute_to_data import sample_aggregate, sandbox
from compute_to_data.sandbox import filesystem
from datamarket.output_spec import OutputSpec


def spec() -> OutputSpec:
    return OutputSpec.from_json({"format": "json", "shape": [1], "lower": 0, "upper": 10})


def setup(tmp_path: Path, blocks: int) -> tuple[Any, Any, Path, list[Path]]:
    ctx = SimpleNamespace(aggregate_slot_s=0.01, limits=sandbox.Limits(), python=None)
    job = SimpleNamespace(id="0" * 32, params={}, delta=1e-5)
    workdir = tmp_path / "work"
    (workdir / "job").mkdir(parents=True)
    block_dirs = []
    for i in range(blocks):
        block = workdir / "data" / f"block-{i}"
        block.mkdir(parents=True)
        (block / "data.csv").write_text("a\n1\n")
        block_dirs.append(block)
    return ctx, job, workdir, block_dirs


def test_a_block_never_sees_what_the_block_before_it_left(tmp_path: Path, monkeypatch) -> None:
    """A worker that is not root cannot mount a fresh tmpfs on /out: each block gets a folder of its
    own all the same, removed when the block ends."""
    monkeypatch.setattr(filesystem, "_privileged", lambda: False)
    ctx, job, workdir, block_dirs = setup(tmp_path, 3)
    seen: list[list[str]] = []
    used: list[Path] = []

    def fake_run(spec_: sandbox.SandboxSpec, **kwargs: Any) -> sandbox.SandboxResult:
        out = Path(spec_.out_dir)
        seen.append(sorted(p.name for p in out.iterdir()))
        used.append(out)
        # A block that finds what an earlier one left says so (9); one that finds nothing, 1.
        found = (out / "output.json").exists()
        (out / "output.json").write_text(json.dumps([9 if found else 1]))
        return sandbox.SandboxResult(0, None, "exited", 0.01, None, False, None)

    monkeypatch.setattr(sandbox, "run", fake_run)
    outputs = sample_aggregate.run_blocks(ctx, job, workdir, block_dirs, spec(), threading.Event())
    assert seen == [[], [], []]
    assert len(set(used)) == 3 and not any(p.exists() for p in used)
    assert [o.tolist() for o in outputs] == [[1.0], [1.0], [1.0]]


def test_a_block_whose_clean_up_fails_is_the_midpoint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(filesystem, "_privileged", lambda: False)
    ctx, job, workdir, block_dirs = setup(tmp_path, 2)
    calls = []

    def fake_run(spec_: sandbox.SandboxSpec, **kwargs: Any) -> sandbox.SandboxResult:
        calls.append(spec_.name)
        (Path(spec_.out_dir) / "output.json").write_text("[4]")
        if len(calls) == 1:
            raise sandbox.SandboxError("processes outlived SIGKILL", "sandbox_cleanup")
        return sandbox.SandboxResult(0, None, "exited", 0.01, None, False, None)

    monkeypatch.setattr(sandbox, "run", fake_run)
    outputs = sample_aggregate.run_blocks(ctx, job, workdir, block_dirs, spec(), threading.Event())
    assert outputs[0] is None and np.array_equal(outputs[1], [4.0])


def test_a_sandbox_that_cannot_start_fails_the_job(tmp_path: Path, monkeypatch) -> None:
    """That is the provider's failure (the block never ran), not a block's."""
    monkeypatch.setattr(filesystem, "_privileged", lambda: False)
    ctx, job, workdir, block_dirs = setup(tmp_path, 2)

    def fake_run(spec_: sandbox.SandboxSpec, **kwargs: Any) -> sandbox.SandboxResult:
        raise sandbox.SandboxError("cannot start the sandbox", "sandbox_start")

    monkeypatch.setattr(sandbox, "run", fake_run)
    with pytest.raises(sandbox.SandboxError):
        sample_aggregate.run_blocks(ctx, job, workdir, block_dirs, spec(), threading.Event())
    assert not list(workdir.glob("out-*"))
