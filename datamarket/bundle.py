"""Published algorithm bundles: a canonical tar, its sha256, pack and unpack (docs/compute.md).

A bundle is an uncompressed POSIX ustar archive of regular files only, entry point ``main.py`` at its
top. :func:`pack` makes it canonical, so that the same files always give the same bytes and the same
:func:`bundle_hash`: paths sorted (POSIX, relative), no directory entries, every member mode 0644,
mtime 0, uid/gid 0, empty user and group names. ``__pycache__`` folders and ``*.pyc`` files are left
out; symlinks and special files are refused.

:func:`unpack` extracts a bundle that may come from anyone: it refuses compression, absolute paths,
``..``, links of both kinds, devices, fifos, duplicate paths, more than ``max_files`` members or
``max_bytes`` of content, and a bundle without ``main.py``. It checks every header before it writes
anything, creates the files itself (``O_EXCL | O_NOFOLLOW``, mode 0644, folders 0755; directory
entries are checked but only the files' folders are made) and never lets the tar library choose a
path, owner or mode.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

from datamarket.errors import DatamarketError

ENTRY_POINT = "main.py"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_FILES = 1000
#: Longest file or folder name and longest path in a bundle, in bytes (Linux's NAME_MAX is 255).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
FILE_MODE = 0o644
DIR_MODE = 0o755
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc",)
_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)


class BundleError(DatamarketError, ValueError):
    """An algorithm bundle that cannot be packed or unpacked safely; ``details`` names the path."""

    code = "invalid_bundle"


def bundle_hash(data: bytes) -> str:
    """The bundle's sha256 (hex), what a job names it by."""
    return hashlib.sha256(data).hexdigest()


def _collect(path: Path, max_files: int) -> list[tuple[str, Path]]:
    """(archive name, file) of every file to pack, sorted by name."""
    top = path.lstat()
    if stat.S_ISLNK(top.st_mode):
        raise BundleError(f"{path}: symbolic links are not allowed", details={"path": str(path)})
    if stat.S_ISREG(top.st_mode):
        return [(ENTRY_POINT, path)]
    if not stat.S_ISDIR(top.st_mode):
        raise BundleError(f"{path}: not a file or a folder", details={"path": str(path)})
    found: list[tuple[str, Path]] = []
    stack = [(path, PurePosixPath())]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            children = list(it)
        for child in children:
            name = (prefix / child.name).as_posix()
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise BundleError(
                    f"{name}: symbolic links are not allowed in a bundle", details={"path": name}
                )
            if stat.S_ISDIR(st.st_mode):
                if child.name not in _SKIPPED_DIRS:
                    stack.append((Path(child.path), prefix / child.name))
            elif stat.S_ISREG(st.st_mode):
                if not child.name.endswith(_SKIPPED_SUFFIXES):
                    found.append((name, Path(child.path)))
                    if len(found) > max_files:
                        raise BundleError(
                            f"more than {max_files} files in the bundle", details={"max_files": max_files}
                        )
            else:
                raise BundleError(f"{name}: only regular files can be bundled", details={"path": name})
    found.sort(key=lambda item: item[0].encode("utf-8"))
    if not any(name == ENTRY_POINT for name, _ in found):
        raise BundleError(f"a bundle needs {ENTRY_POINT} at its top", details={"path": ENTRY_POINT})
    return found


def pack(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES) -> bytes:
    """The canonical bundle of a script (packed as ``main.py``) or of a folder (all its regular
    files; ``main.py`` must be at its top)."""
    path = Path(path)
    try:
        files = _collect(path, max_files)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file or folder", details={"path": str(path)}) from None
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8") as archive:
        for name, file in files:
            fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                content = f.read(max_bytes - total + 1)
            total += len(content)
            if total > max_bytes:
                raise BundleError(
                    f"the bundle holds more than {max_bytes} bytes", details={"max_bytes": max_bytes}
                )
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            try:
                archive.addfile(info, io.BytesIO(content))
            except ValueError as exc:  # a name that ustar cannot hold (too long)
                raise BundleError(f"{name}: {exc}", details={"path": name}) from None
    return buffer.getvalue()


def _member_name(member: tarfile.TarInfo) -> str:
    name = member.name
    if "\x00" in name or "\\" in name:
        raise BundleError("a bundle path holds a NUL or a backslash", details={"path": name})
    if name.startswith("/"):
        raise BundleError(f"{name}: absolute paths are not allowed", details={"path": name})
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts:
        raise BundleError(f"{name!r}: an empty path", details={"path": name})
    if ".." in parts:
        raise BundleError(f"{name}: '..' is not allowed in a bundle path", details={"path": name})
    path = "/".join(parts)
    longest = max(len(os.fsencode(part)) for part in parts)
    if longest > MAX_NAME_BYTES or len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise BundleError(
            f"a bundle path may have {MAX_PATH_BYTES} bytes and each of its parts {MAX_NAME_BYTES}",
            details={"path": path[:MAX_PATH_BYTES]},
        )
    return path


def _open(data: bytes) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8")
    except tarfile.TarError:
        raise BundleError("not an uncompressed tar archive") from None


def unpack(
    data: bytes, dest: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES
) -> list[str]:
    """Extract a bundle into ``dest`` (created if missing; it should be empty) and return the paths
    of its files, sorted. Nothing is written unless the whole bundle is acceptable."""
    members: list[tuple[str, tarfile.TarInfo]] = []
    names: set[str] = set()
    folders: set[str] = set()
    total = 0
    with _open(data) as archive:
        try:
            while (member := archive.next()) is not None:
                name = _member_name(member)
                if member.isdir():  # folders are made as the files need them
                    folders.add(name)
                    continue
                if member.type not in _REGULAR_TYPES:
                    raise BundleError(
                        f"{name}: only regular files are allowed (no links, devices or fifos)",
                        details={"path": name},
                    )
                if name in names:
                    raise BundleError(f"{name}: appears twice in the bundle", details={"path": name})
                names.add(name)
                if len(names) > max_files:
                    raise BundleError(
                        f"more than {max_files} files in the bundle", details={"max_files": max_files}
                    )
                total += member.size
                if total > max_bytes:
                    raise BundleError(
                        f"the bundle holds more than {max_bytes} bytes", details={"max_bytes": max_bytes}
                    )
                if member.offset_data + member.size > len(data):
                    raise BundleError(f"{name}: truncated", details={"path": name})
                members.append((name, member))
        except tarfile.TarError as exc:
            raise BundleError(f"a damaged tar archive ({exc})") from None
        if ENTRY_POINT not in names:
            raise BundleError(f"a bundle needs {ENTRY_POINT} at its top", details={"path": ENTRY_POINT})
        for name in sorted(names | folders):  # a file may not also be a folder ("a" and "a/b")
            parents = PurePosixPath(name).parents
            clash = next((p.as_posix() for p in parents if p.as_posix() in names), None)
            if clash is None and name in names and name in folders:
                clash = name
            if clash is not None:
                raise BundleError(f"{clash}: both a file and a folder", details={"path": clash})

        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        for name, member in members:
            target = root.joinpath(*name.split("/"))
            try:
                target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            except OSError as exc:  # a name the file system refuses (the headers were checked)
                raise BundleError(
                    f"{name}: cannot be written ({exc.strerror})", details={"path": name}
                ) from None
            if not target.parent.resolve().is_relative_to(root):
                raise BundleError(
                    f"{name}: would be written outside the bundle folder", details={"path": name}
                )
            source = archive.extractfile(member)
            if source is None:
                raise BundleError(f"{name}: unreadable", details={"path": name})
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                fd = os.open(target, flags, FILE_MODE)
            except FileExistsError:
                raise BundleError(
                    f"{name}: already exists in the bundle folder", details={"path": name}
                ) from None
            except OSError as exc:
                raise BundleError(
                    f"{name}: cannot be written ({exc.strerror})", details={"path": name}
                ) from None
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                remaining = member.size
                while remaining:
                    block = source.read(min(remaining, 1 << 20))
                    if not block:
                        raise BundleError(f"{name}: truncated", details={"path": name})
                    out.write(block)
                    remaining -= len(block)
    return sorted(names)
