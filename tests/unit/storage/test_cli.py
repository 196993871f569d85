from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from datamarket.storage.cid import CHUNK_SIZE
from datamarket.storage.cli import store


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATAMARKET_STORE", raising=False)
    return CliRunner()


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(random.Random(1).randbytes(CHUNK_SIZE + 10))
    return path


def test_add_prints_only_the_cid_and_cat_writes_the_bytes(runner, tmp_path, data_file):
    added = runner.invoke(store, ["add", str(data_file)])
    assert added.exit_code == 0, added.output
    cid = added.output.strip()
    assert cid.startswith("bafybei") and added.output == cid + "\n"
    assert (tmp_path / ".datamarket" / "store" / "pins" / cid).is_file()  # the default location

    shown = runner.invoke(store, ["cat", cid])
    assert shown.exit_code == 0 and shown.stdout_bytes == data_file.read_bytes()


def test_cid_version_0_and_only_hash(runner, tmp_path, data_file):
    result = runner.invoke(store, ["add", "--cid-version", "0", "--only-hash", str(data_file)])
    assert result.exit_code == 0 and result.output.startswith("Qm")
    assert not (tmp_path / ".datamarket").exists()


def test_stdin_and_the_environment_variable(runner, tmp_path):
    env = {"DATAMARKET_STORE": str(tmp_path / "elsewhere")}
    result = runner.invoke(store, ["add", "-"], input=b"hello world\n", env=env)
    assert result.output == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4\n"
    assert (tmp_path / "elsewhere" / "pins").is_dir()


def test_export_then_import_into_another_store(runner, tmp_path, data_file):
    cid = runner.invoke(store, ["add", str(data_file)]).output.strip()
    exported = runner.invoke(store, ["export", cid, "out/data.car"])
    assert exported.exit_code == 0 and exported.output == ""
    imported = runner.invoke(store, ["--store", str(tmp_path / "second"), "import", "out/data.car"])
    assert imported.exit_code == 0 and imported.output == cid + "\n"
    shown = runner.invoke(store, ["--store", str(tmp_path / "second"), "cat", cid])
    assert shown.stdout_bytes == data_file.read_bytes()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cat", "nonsense"], "error (invalid_cid): 'nonsense' is not a CID"),
        (
            ["cat", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"],
            "error (content_not_found): ",
        ),
        (["add", "missing.bin"], "error (io_error): missing.bin: No such file or directory"),
        (["import", "missing.car"], "error (io_error): missing.car"),
        (["--store", "http://[nonsense", "cat", "x"], "error (invalid_config): "),
    ],
)
def test_errors_are_one_line_with_a_code_and_exit_1(runner, args, expected):
    result = runner.invoke(store, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_failed_export_leaves_no_file(runner, tmp_path):
    result = runner.invoke(
        store, ["export", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", "x.car"]
    )
    assert result.exit_code == 1 and result.stderr.startswith("error (content_not_found)")
    assert list(tmp_path.iterdir()) == []


def test_a_corrupted_car_is_refused(runner, tmp_path, data_file):
    cid = runner.invoke(store, ["add", str(data_file)]).output.strip()
    runner.invoke(store, ["export", cid, "data.car"])
    damaged = bytearray((tmp_path / "data.car").read_bytes())
    damaged[-5] ^= 1
    (tmp_path / "data.car").write_bytes(bytes(damaged))
    result = runner.invoke(store, ["--store", "other", "import", "data.car"])
    assert result.exit_code == 1 and result.stderr.startswith("error (content_corrupted)")


def test_json_output_of_add_export_import_and_errors(tmp_path) -> None:
    import json

    runner = CliRunner()
    source = tmp_path / "a.txt"
    source.write_bytes(b"hello\n")
    added = runner.invoke(store, ["--store", str(tmp_path / "one"), "add", str(source), "--json"])
    assert added.exit_code == 0, added.output
    cid = json.loads(added.output)["cid"]
    plain = runner.invoke(store, ["--store", str(tmp_path / "one"), "add", "--only-hash", str(source)])
    assert plain.output.strip() == cid
    car = tmp_path / "a.car"
    exported = runner.invoke(store, ["--store", str(tmp_path / "one"), "export", cid, str(car), "--json"])
    assert json.loads(exported.output) == {"cid": cid, "car": str(car), "size": car.stat().st_size}
    imported = runner.invoke(store, ["--store", str(tmp_path / "two"), "import", str(car), "--json"])
    assert json.loads(imported.output) == {"roots": [cid]}
    missing = runner.invoke(
        store, ["--store", str(tmp_path / "two"), "add", str(tmp_path / "nope"), "--json"]
    )
    assert missing.exit_code == 1
    error = json.loads(missing.stdout)["error"]
    assert (error["code"], error["details"]) == ("io_error", {})
    assert error["message"] == f"{tmp_path / 'nope'}: No such file or directory"


def test_the_store_commands_take_the_clis_error_path(runner, monkeypatch) -> None:
    import json

    from datamarket.cli.errors import Command, Group
    from datamarket.storage import cli

    assert isinstance(store, Group) and all(isinstance(c, Command) for c in store.commands.values())

    def broken(location):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_open", broken)
    monkeypatch.delenv("DATAMARKET_DEBUG", raising=False)
    result = runner.invoke(store, ["add", "-", "--json"], input=b"x")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert json.loads(result.stdout)["error"]["code"] == "internal_error"
    usage = runner.invoke(store, ["add", "-", "--cid-version", "2", "--json"], input=b"x")
    assert usage.exit_code == 2 and json.loads(usage.stdout)["error"]["code"] == "usage_error"
