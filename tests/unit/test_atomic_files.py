"""write_atomically and atomic_writer: the mode, the replace, and what is left behind on an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from datamarket import atomic_files
from datamarket.atomic_files import PUBLIC, atomic_writer, write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_private_by_default(tmp_path) -> None:
    target = tmp_path / "secret.json"
    write_atomically(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.json"]


def test_public_files_get_the_mode_of_any_new_file(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "export.car", b"car", mode=PUBLIC)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "export.car") == 0o644


def test_an_existing_file_is_replaced_whole_and_takes_the_new_mode(tmp_path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"old content, longer than the new one")
    target.chmod(0o644)
    inode = target.stat().st_ino
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert mode_of(target) == 0o600
    assert target.stat().st_ino != inode, "a new file renamed over the old one, not the old one rewritten"


def test_the_target_appears_only_when_the_block_ends(tmp_path) -> None:
    target = tmp_path / "data.csv"
    target.write_bytes(b"before")
    with atomic_writer(target) as file:
        file.write(b"part one, ")
        file.write(b"part two")
        assert target.read_bytes() == b"before"
        [temp] = [p for p in tmp_path.iterdir() if p != target]
        assert temp.name.startswith(".data.csv.") and temp.name.endswith(".tmp")
        assert mode_of(temp) == 0o600
    assert target.read_bytes() == b"part one, part two"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("existing", [None, b"before"])
def test_an_error_leaves_no_temporary_file_and_the_old_content(tmp_path, existing) -> None:
    target = tmp_path / "job.json"
    if existing is not None:
        target.write_bytes(existing)

    class Refused(Exception):
        pass

    with pytest.raises(Refused), atomic_writer(target) as file:
        file.write(b"half of it")
        raise Refused
    assert (target.read_bytes() if target.exists() else None) == existing
    assert [p.name for p in tmp_path.iterdir()] == ([] if existing is None else ["job.json"])


def test_an_interruption_leaves_no_temporary_file(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_writer(tmp_path / "x") as file:
        file.write(b"x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    (target / "inside").write_bytes(b"")  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomically(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours")
    link = tmp_path / "key"
    link.symlink_to(elsewhere)
    write_atomically(link, b"mine")
    assert not link.is_symlink() and link.read_bytes() == b"mine"
    assert elsewhere.read_bytes() == b"not yours"


def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(atomic_files.secrets, "token_hex", lambda n: "f" * (2 * n))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours")
    (tmp_path / f".key.{'f' * 16}.tmp").symlink_to(elsewhere)
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "key", b"mine")
    assert elsewhere.read_bytes() == b"not yours"
    assert not (tmp_path / "key").exists()


def test_a_missing_folder_is_an_error_not_created(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "no" / "such" / "file", b"x")
    assert list(tmp_path.iterdir()) == []
