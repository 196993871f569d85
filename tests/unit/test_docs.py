"""No document cites a file the repository does not hold.

The Markdown files (README.md, docs/, bench/README.md and every other tracked ``*.md``) are scanned
for the repository paths they cite:

- link targets that are relative paths (``[text](docs/privacy.md)``, resolved from the document's
  folder; URLs and ``#anchors`` are not paths);
- code spans that are paths: ``provider/app.py`` and ``scripts/bench/gas.js`` from the repository's
  root; a span that starts below the root (``interfaces/IDataMarket.sol`` in a table row about
  ``contracts/``) must be the end of some path the repository holds;
- plain text that starts with one of the repository's top-level folders (``see docs/compute.md``).

Not paths: URLs, absolute paths (what a job sees in its sandbox: ``/job``, ``/out``), ``~`` and
``<placeholder>`` paths, anything with a space, ``:``, ``@``, ``*``, ``=`` or ``|``. Paths that tools
write and the repository ignores (:data:`GENERATED`) may be cited without existing.

The repository is what git tracks (and is still on disk); without git, what is on disk outside the
generated folders.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What tools write and git ignores: a document may name these without the repository holding them.
GENERATED = (
    ".cache/",
    ".datamarket/",
    ".venv/",
    "artifacts/",
    "cache/",
    "clients/js/node_modules/",
    "coverage/",
    "coverage.json",
    "node_modules/",
    "tests/gateway_client/node_modules/",
)
#: Folders never walked when git cannot list the repository.
_UNTRACKED_DIRS = frozenset(
    {".git", ".hypothesis", ".pytest_cache", ".ruff_cache", "__pycache__", "build", "dist"}
    | {g.rstrip("/") for g in GENERATED}
)
#: Documents that must be scanned whatever git says (the check must not pass by scanning nothing).
REQUIRED_DOCUMENTS = ("README.md", "docs/compute.md", "bench/README.md")

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*(<[^>\n]+>|[^)\s]+)(?:\s+\"[^\"\n]*\")?\s*\)")
_REFERENCE = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]+>|\S+)", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*/?")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Citation:
    """A path as a document writes it, and the folder it is relative to ('' for the root)."""

    line: int
    path: str
    kind: str  # "link", "code" or "text"
    base: str = ""


@dataclass(frozen=True)
class Repository:
    files: frozenset[str]

    @cached_property
    def dirs(self) -> frozenset[str]:
        return frozenset(
            "/".join(parts[:i]) for parts in (f.split("/") for f in self.files) for i in range(1, len(parts))
        )

    @cached_property
    def roots(self) -> frozenset[str]:
        return frozenset(f.split("/", 1)[0] for f in self.files)

    def holds(self, path: str) -> bool:
        path = path.rstrip("/")
        return path in self.files or path in self.dirs

    def holds_below_root(self, path: str) -> bool:
        """Whether ``path`` is the end of a path the repository holds (``interfaces/X.sol``)."""
        tail = "/" + path.rstrip("/")
        return self.holds(path) or any(p.endswith(tail) for p in self.files | self.dirs)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the given spans replaced by spaces (newlines kept, so line numbers hold)."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _is_generated(path: str) -> bool:
    path = path.removeprefix("./")
    return any(path == g.rstrip("/") or path.startswith(g) for g in GENERATED)


def citations(text: str, document: str, roots: frozenset[str]) -> list[Citation]:
    """Every repository path ``text`` (the document at ``document``, relative to the root) cites.
    ``roots`` are the repository's top-level names: plain text is read as a path only from them."""
    base = posixpath.dirname(document)
    found: list[Citation] = []
    fences = [m.span() for m in _FENCE.finditer(text)]
    prose = _blank(text, fences)
    for pattern in (_LINK, _REFERENCE):
        for m in pattern.finditer(prose):
            target = m.group(1).strip("<>").split("#", 1)[0].split("?", 1)[0]
            if target and not _SCHEME.match(target):
                found.append(Citation(_line(text, m.start(1)), target, "link", base))
    spans = list(_CODE_SPAN.finditer(prose))
    for m in spans:
        token = m.group(1).strip()
        if "/" in token and _PATH.fullmatch(token):
            found.append(Citation(_line(text, m.start(1)), token.removeprefix("./"), "code"))
    # Plain text, fenced blocks included, outside code spans and links: paths from a top-level folder.
    rest = _blank(text, [m.span() for m in spans] + [m.span() for m in _LINK.finditer(prose)])
    folders = "|".join(re.escape(r) for r in sorted(roots, key=len, reverse=True))
    if folders:
        plain = re.compile(rf"(?<![\w./~<@$:-])(?:{folders})/[\w./-]*[\w/]")
        for m in plain.finditer(rest):
            path = m.group(0)
            if path.endswith("/") or _EXTENSION.search(path):
                found.append(Citation(_line(text, m.start()), path, "text"))
    return found


def missing(found: list[Citation], repo: Repository) -> list[Citation]:
    """The citations of paths ``repo`` does not hold."""
    absent = []
    for c in found:
        if c.kind == "link":
            joined = c.path.lstrip("/") if c.path.startswith("/") else posixpath.join(c.base, c.path)
            path = posixpath.normpath(joined)
            outside = path == ".." or path.startswith("../")
            if outside or not (_is_generated(path) or repo.holds(path)):
                absent.append(c)
            continue
        if _is_generated(c.path):
            continue
        if c.path.split("/", 1)[0] in repo.roots:
            if not repo.holds(c.path):
                absent.append(c)
        elif (c.path.endswith("/") or _EXTENSION.search(c.path)) and not repo.holds_below_root(c.path):
            absent.append(c)
    return absent


def repository(root: Path = ROOT) -> Repository:
    """The files git tracks under ``root`` that are on disk; without git, the files on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        tracked = [f for f in listed.split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        tracked = []
    if tracked:
        return Repository(frozenset(f for f in tracked if (root / f).exists()))
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _UNTRACKED_DIRS and not d.endswith(".egg-info")]
        files += [Path(folder, n).relative_to(root).as_posix() for n in names]
    return Repository(frozenset(files))


def documents(repo: Repository) -> list[str]:
    found = {f for f in repo.files if f.endswith(".md")}
    found |= {d for d in REQUIRED_DOCUMENTS if (ROOT / d).exists()}
    return sorted(found)


REPO = repository()
DOCUMENTS = documents(REPO)


def test_the_documents_are_found() -> None:
    assert set(REQUIRED_DOCUMENTS) <= set(DOCUMENTS)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_cited_path_exists(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    absent = missing(citations(text, document, REPO.roots), REPO)
    assert not absent, f"{document} cites paths the repository does not hold:\n" + "\n".join(
        f"  {document}:{c.line}: {c.path}" for c in absent
    )


# The scanner itself.

SAMPLE = Repository(
    frozenset(
        {
            "README.md",
            "contracts/interfaces/IDataMarket.sol",
            "docs/compute.md",
            "docs/privacy.md",
            "provider/app.py",
            "scripts/bench/gas.js",
        }
    )
)


def _absent(text: str, document: str = "README.md") -> list[str]:
    return [c.path for c in missing(citations(text, document, SAMPLE.roots), SAMPLE)]


def test_links_code_spans_and_text_are_read() -> None:
    text = (
        "See [privacy](docs/privacy.md#the-guarantee), `provider/app.py`, `scripts/bench/gas.js` and\n"
        "docs/compute.md. Also [gone](docs/gone.md), `provider/gone.py`, `scripts/bench/gone.js`,\n"
        "`interfaces/IDataMarket.sol`, `interfaces/Gone.sol` and (docs/gone-too.md).\n"
        "```\n.venv/bin/python scripts/bench/gone.py\n```\n"
    )
    found = citations(text, "README.md", SAMPLE.roots)
    assert {(c.kind, c.path, c.line) for c in found} >= {
        ("link", "docs/privacy.md", 1),
        ("code", "provider/app.py", 1),
        ("text", "docs/compute.md", 2),
        ("text", "scripts/bench/gone.py", 5),
    }
    assert _absent(text) == [
        "docs/gone.md",
        "provider/gone.py",
        "scripts/bench/gone.js",
        "interfaces/Gone.sol",
        "docs/gone-too.md",
        "scripts/bench/gone.py",
    ]


def test_links_resolve_from_the_document_folder() -> None:
    assert _absent("[a](../docs/privacy.md) [b](privacy.md) [c](../provider/app.py)", "docs/x.md") == []
    assert _absent("[a](docs/privacy.md) [b](../../outside.md)", "docs/x.md") == [
        "docs/privacy.md",
        "../../outside.md",
    ]


def test_what_is_not_a_repository_path_is_left_alone() -> None:
    text = (
        "[site](https://example.org/docs/gone.md) [top](#figures) <https://example.org/provider/x.py>\n"
        "`/job/params.json` `/out/` `/data/<file>` `~/.datamarket/provider` `<data_dir>/keys`\n"
        "`.datamarket/content-keys/` `node_modules/` `artifacts/contracts/X.json` `coverage.json`\n"
        "`sqlite:///<data_dir>/jobs.db` `redis://host/0` `datamarket/dataset@1` `*.json` `HOME=/tmp`\n"
        "`GET /compute/<job>/result` `result/archive` `n/k` `(upper_i - lower_i) / k` `a|b/c.py`\n"
        "https://example.org/provider/gone.py and ~/docs/gone.md and <home>/docs/gone.md\n"
    )
    assert _absent(text) == []
