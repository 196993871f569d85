"""Algorithm bundles: canonical packing, hashing and safe unpacking."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from datamarket.bundle import BundleError, bundle_hash, pack, unpack
from datamarket.errors import DatamarketError


def make_folder(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "main.py").write_text("from pkg.util import f\nprint(f())\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text("def f():\n    return 42\n")
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\x00compiled")
    (root / "stale.pyc").write_bytes(b"\x00")
    (root / "config.json").write_text('{"lr": 0.1}')
    return root


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, content in members:
            if content is not None:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def regular(name: str, content: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), content


MAIN = regular("main.py", b"print('hi')\n")


# -- pack -------------------------------------------------------------------------------------------


def test_pack_a_script(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("print(1)\n")
    data = pack(script)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        (member,) = archive.getmembers()
        assert member.name == "main.py"
        assert archive.extractfile(member).read() == b"print(1)\n"
    assert bundle_hash(data) == hashlib.sha256(data).hexdigest()


def test_pack_a_folder_is_canonical(tmp_path: Path) -> None:
    data = pack(make_folder(tmp_path / "algo"))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["config.json", "main.py", "pkg/__init__.py", "pkg/util.py"]
    for m in members:
        assert m.isreg() and m.mode == 0o644 and m.mtime == 0
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
    assert data[257:263] == b"ustar\x00"  # POSIX ustar headers


def test_pack_is_deterministic(tmp_path: Path) -> None:
    first = make_folder(tmp_path / "one")
    second = tmp_path / "two"
    second.mkdir()
    # Same files, written in another order, other mtimes and modes.
    for rel in ["pkg/util.py", "config.json", "main.py", "pkg/__init__.py"]:
        target = second / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((first / rel).read_bytes())
        os.utime(target, (1_000_000, 1_000_000 + len(rel)))
    os.chmod(second / "main.py", 0o755)
    assert pack(first) == pack(second)
    assert bundle_hash(pack(first)) == bundle_hash(pack(second))
    (second / "main.py").write_text("changed\n")
    assert bundle_hash(pack(first)) != bundle_hash(pack(second))


def test_pack_refuses_symlinks(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "algo")
    (folder / "link.py").symlink_to(folder / "main.py")
    with pytest.raises(BundleError, match="symbolic"):
        pack(folder)
    (folder / "link.py").unlink()
    (folder / "pkg" / "data").symlink_to("/etc")
    with pytest.raises(BundleError):
        pack(folder)
    (tmp_path / "main_link.py").symlink_to(folder / "main.py")
    with pytest.raises(BundleError):
        pack(tmp_path / "main_link.py")


def test_pack_needs_main_py(tmp_path: Path) -> None:
    folder = tmp_path / "algo"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "main.py").write_text("")
    with pytest.raises(BundleError, match=r"main\.py") as info:
        pack(folder)
    assert info.value.code == "invalid_bundle" and isinstance(info.value, DatamarketError)
    with pytest.raises(BundleError):
        pack(tmp_path / "missing")


def test_pack_limits(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "algo")
    with pytest.raises(BundleError, match="files"):
        pack(folder, max_files=3)
    with pytest.raises(BundleError, match="bytes"):
        pack(folder, max_bytes=20)
    assert pack(folder, max_files=4)


def test_pack_refuses_fifos(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "algo")
    os.mkfifo(folder / "pipe")
    with pytest.raises(BundleError, match="regular"):
        pack(folder)


# -- unpack -----------------------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    data = pack(make_folder(tmp_path / "algo"))
    dest = tmp_path / "out"
    paths = unpack(data, dest)
    assert paths == ["config.json", "main.py", "pkg/__init__.py", "pkg/util.py"]
    assert (dest / "pkg" / "util.py").read_text() == "def f():\n    return 42\n"
    for rel in paths:
        assert stat.S_IMODE((dest / rel).stat().st_mode) == 0o644


def test_unpack_normalizes_dot_slash_and_accepts_directories(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("./lib")
    folder.type = tarfile.DIRTYPE
    data = tar_bytes((folder, None), regular("./main.py"), regular("lib/x.py"))
    assert unpack(data, tmp_path / "out") == ["lib/x.py", "main.py"]


def test_unpack_forces_mode_0644(tmp_path: Path) -> None:
    info, content = regular("main.py")
    info.mode = 0o4777
    unpack(tar_bytes((info, content)), tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "main.py").stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["/etc/passwd", "../evil.py", "a/../../evil.py", "a/b/../../../x", ".."])
def test_unpack_refuses_traversal(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "deep" / "out"
    with pytest.raises(BundleError):
        unpack(tar_bytes(MAIN, regular(name)), dest)
    assert not (tmp_path / "evil.py").exists()
    assert not dest.exists() or not any(dest.iterdir())  # nothing written


def _link(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


@pytest.mark.parametrize(
    "member",
    [
        _link("evil", tarfile.SYMTYPE, "/etc/passwd"),
        _link("evil", tarfile.LNKTYPE, "main.py"),
        _link("dev", tarfile.CHRTYPE),
        _link("blk", tarfile.BLKTYPE),
        _link("pipe", tarfile.FIFOTYPE),
    ],
)
def test_unpack_refuses_links_and_devices(tmp_path: Path, member: tuple[tarfile.TarInfo, None]) -> None:
    with pytest.raises(BundleError, match="regular"):
        unpack(tar_bytes(MAIN, member), tmp_path / "out")


def test_unpack_refuses_size_bombs_and_many_files(tmp_path: Path) -> None:
    big = regular("big.bin", b"\x00" * 5000)
    with pytest.raises(BundleError, match="bytes"):
        unpack(tar_bytes(MAIN, big), tmp_path / "a", max_bytes=4096)
    many = [regular(f"f{i}.py") for i in range(5)]
    with pytest.raises(BundleError, match="files"):
        unpack(tar_bytes(MAIN, *many), tmp_path / "b", max_files=5)
    # A header that claims more bytes than the archive holds.
    main = tarfile.TarInfo("main.py")
    main.size = 3
    huge = tarfile.TarInfo("huge.bin")
    huge.size = 4000
    data = b"".join(
        [
            main.tobuf(format=tarfile.USTAR_FORMAT),
            b"hi\n".ljust(512, b"\0"),
            huge.tobuf(format=tarfile.USTAR_FORMAT),
        ]
    )
    with pytest.raises(BundleError, match="truncated"):
        unpack(data + b"\0" * 1024, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_unpack_refuses_duplicates_and_file_folder_clashes(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="twice"):
        unpack(tar_bytes(MAIN, regular("a.py"), regular("a.py")), tmp_path / "a")
    with pytest.raises(BundleError, match="file and a folder"):
        unpack(tar_bytes(MAIN, regular("a"), regular("a/b.py")), tmp_path / "b")


def test_unpack_needs_main_py(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"main\.py"):
        unpack(tar_bytes(regular("sub/main.py")), tmp_path / "out")


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 100])
def test_unpack_refuses_non_tar(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(BundleError):
        unpack(data, tmp_path / "out")


def test_unpack_refuses_compression(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info, content = MAIN
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    with pytest.raises(BundleError):
        unpack(buffer.getvalue(), tmp_path / "out")


def test_unpack_does_not_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "main.py").write_text("mine")
    with pytest.raises(BundleError, match="exists"):
        unpack(tar_bytes(MAIN), dest)
    assert (dest / "main.py").read_text() == "mine"


@pytest.mark.parametrize(
    "name", ["x" * 300, "/".join(["d" * 200] * 30) + "/f"], ids=["long_name", "deep_path"]
)
def test_names_the_file_system_cannot_hold_are_invalid_bundles(tmp_path: Path, name: str) -> None:
    """A PAX header holds any length: refused as a bundle, never an OSError of the worker."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in ("main.py", name):
            info = tarfile.TarInfo(member)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BundleError, match="bytes"):
        unpack(buffer.getvalue(), tmp_path / "algorithm")
    assert not (tmp_path / "algorithm").exists() or not any((tmp_path / "algorithm").iterdir())
