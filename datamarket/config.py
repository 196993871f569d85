"""Settings of a service, declared once per field and read from the environment and a TOML file.

A settings class is a frozen dataclass deriving from :class:`Settings`; each field is declared with
:func:`setting`, which carries its parser (what a string from the environment or a TOML value becomes)
and its check (the allowed range or form). Adding a setting is that one declaration: loading,
validating, naming the environment variable and masking secrets follow from it::

    @dataclass(frozen=True, kw_only=True)
    class WorkerSettings(NodeSettings):
        ENV_PREFIX: ClassVar[str] = "DATAMARKET_WORKER_"
        job_memory_mb: int = setting(8192, parse=integer, check=within(64, 4 * 1024 * 1024))

A field's environment variable is the prefix of the class that declares it plus its upper-case name;
the environment wins over the file. Every problem is a :class:`~datamarket.errors.ConfigError` listing
each bad setting by name, never by value (one of them may be a key).
"""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit, urlunsplit

from eth_utils import is_checksum_address

from datamarket.errors import ConfigError

Check = Callable[[Any], "str | None"]


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` are ``'***'``; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# ------------------------------------------------------------------------------------------ parsers


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool")
    if isinstance(value, str):
        return int(value.strip(), 0)
    if isinstance(value, int):
        return value
    raise TypeError(type(value).__name__)


def number(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("bool")
    return float(value)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError(type(value).__name__)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    return value.strip()


def upper(value: Any) -> str:
    return text(value).upper()


def path(value: Any) -> Path:
    return Path(text(value)).expanduser()


def names(value: Any) -> tuple[str, ...]:
    """A comma-separated string or a TOML list of names."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError(type(value).__name__)
    return tuple(text(v) for v in items if text(v))


def secret(value: Any) -> Secret:
    return value if isinstance(value, Secret) else Secret(text(value))


# ------------------------------------------------------------------------------------------- checks


def within(low: int, high: int) -> Check:
    """An integer in ``[low, high)``."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            return f"must be an integer in [{low}, {high})"
        return None

    return check


def positive_up_to(high: float) -> Check:
    """A number in ``(0, high]``."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, float | int) or not 0 < value <= high:
            return f"must be in (0, {high:g}]"
        return None

    return check


def url_schemes(*schemes: str, what: str) -> Check:
    def check(value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or urlsplit(value).scheme not in schemes):
            return f"must be {what}"
        return None

    return check


def checksum_address(value: Any) -> str | None:
    if not isinstance(value, str) or not is_checksum_address(value):
        return "must be a checksummed address"
    return None


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"one of {', '.join(choices)}"

    return check


def names_among(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if not value or len(set(value)) != len(value) or any(v not in choices for v in value):
            return f"a non-empty list of distinct names among {', '.join(choices)}"
        return None

    return check


# ------------------------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class Setting:
    """What a field carries: how a raw value is parsed, what it must satisfy, how it is shown."""

    parse: Callable[[Any], Any]
    check: Check | None = None
    #: ``repr`` shows ``***`` (a key) or the URL with its password masked.
    masked: bool = False
    url: bool = False


def setting(
    default: Any = MISSING,
    *,
    parse: Callable[[Any], Any],
    check: Check | None = None,
    masked: bool = False,
    url: bool = False,
) -> Any:
    """A settings field (see the module's docstring). No default: the setting is required."""
    meta = {"setting": Setting(parse, check, masked, url)}
    return dataclasses.field(default=default, repr=not (masked or url), metadata=meta)


class Settings:
    """Base of every settings class; subclasses are ``@dataclass(frozen=True, kw_only=True)``."""

    #: Environment prefix of the fields a class declares.
    ENV_PREFIX: ClassVar[str] = "DATAMARKET_"
    #: Shown in errors: "invalid <TITLE>: ...".
    TITLE: ClassVar[str] = "settings"
    #: The TOML table holding this class's own fields (None: the top level).
    TOML_TABLE: ClassVar[str | None] = None
    #: The environment variable naming the TOML file.
    CONFIG_ENV: ClassVar[str] = "DATAMARKET_CONFIG"

    def __post_init__(self) -> None:
        problems = [f"{name}: {msg}" for name, msg in self._field_problems()] + self.problems()
        if problems:
            raise ConfigError(f"invalid {self.TITLE}: " + "; ".join(problems), details={"problems": problems})
        self.complete()

    def problems(self) -> list[str]:
        """Checks across fields; a subclass extends it."""
        return []

    def complete(self) -> None:
        """Fill defaults derived from other fields; a subclass extends it."""

    def _field_problems(self) -> Iterable[tuple[str, str]]:
        for f in fields(self):  # type: ignore[arg-type]
            spec = f.metadata.get("setting")
            if spec is None or spec.check is None:
                continue
            message = spec.check(getattr(self, f.name))
            if message:
                yield f.name, message

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            spec = f.metadata.get("setting")
            if spec is not None and spec.masked:
                value = "***"
            elif spec is not None and spec.url and value is not None:
                value = mask_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def specs(cls) -> dict[str, Setting]:
        return {f.name: f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata}  # type: ignore[arg-type]

    @classmethod
    def env_name(cls, name: str) -> str:
        """The environment variable of field ``name``: its declaring class's prefix."""
        for klass in cls.__mro__:
            if name in vars(klass).get("__annotations__", {}):
                return klass.ENV_PREFIX + name.upper()  # type: ignore[attr-defined]
        raise KeyError(name)

    @classmethod
    def own_fields(cls, klass: type) -> set[str]:
        """The fields that ``klass`` (one class of the MRO) declares itself."""
        return set(vars(klass).get("__annotations__", {})) & set(cls.specs())

    @classmethod
    def load(
        cls, *, env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
    ) -> Self:
        """Settings from ``env`` (default ``os.environ``) over the TOML file, validated."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config_file = config_file or env.get(cls.CONFIG_ENV)
        if config_file:
            values.update(cls.from_toml(read_toml(Path(config_file), cls.TITLE)))
        for name in (*cls.specs(), *cls.extra_inputs()):
            raw = env.get(cls.input_env_name(name))
            if raw is not None and raw != "":
                values[name] = raw
        return cls.from_mapping(values)

    @classmethod
    def extra_inputs(cls) -> tuple[str, ...]:
        """Inputs that are not fields (for example a file to read a field from)."""
        return ()

    @classmethod
    def input_env_name(cls, name: str) -> str:
        """The environment variable of a field or an extra input (default: this class's prefix)."""
        return cls.env_name(name) if name in cls.specs() else cls.ENV_PREFIX + name.upper()

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The values of this class in a TOML document; a subclass may take them from a table."""
        return dict(data)

    @classmethod
    def prepare(cls, values: dict[str, Any], problems: list[str]) -> None:
        """Turn extra inputs into field values (in place); a subclass extends it."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """Settings from plain values (strings are converted), validated."""
        values = dict(values)
        problems: list[str] = []
        cls.prepare(values, problems)
        specs = cls.specs()
        problems += [f"{name}: unknown setting" for name in sorted(set(values) - set(specs))]
        kwargs: dict[str, Any] = {}
        for name, spec in specs.items():
            if name in values:
                try:
                    kwargs[name] = spec.parse(values[name])
                except (TypeError, ValueError):
                    problems.append(f"{name}: not a valid value")
        for f in fields(cls):  # type: ignore[arg-type]
            required = f.default is MISSING and f.default_factory is MISSING
            if required and f.name not in kwargs and not any(p.startswith(f.name + ":") for p in problems):
                problems.append(f"{f.name}: required")
        if problems:
            raise ConfigError(f"invalid {cls.TITLE}: " + "; ".join(problems), details={"problems": problems})
        return cls(**kwargs)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError:
        raise ConfigError(f"the {what} file cannot be read") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the {what} file is not valid TOML: {exc}") from None
    return data


def read_key_file(path: Path, name: str = "private_key_file") -> Secret:
    """A key from a file that only its owner may read."""
    return Secret(read_owner_only(path, name).strip())


def read_owner_only(path: Path, name: str) -> str:
    """The text of a file that only its owner may read or write (a key, a password), named ``name``
    in errors."""
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{name}: readable by group or others; set its mode to 0600")
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{name}: cannot be read") from None


__all__ = [
    "Secret",
    "Setting",
    "Settings",
    "boolean",
    "checksum_address",
    "integer",
    "mask_url",
    "names",
    "names_among",
    "number",
    "one_of",
    "path",
    "positive_up_to",
    "read_key_file",
    "read_owner_only",
    "read_toml",
    "secret",
    "setting",
    "text",
    "upper",
    "url_schemes",
    "within",
]
