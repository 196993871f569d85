"""Settings declared once per field: the parser and the check travel with the field, the environment
variable follows from the declaring class, secrets and URL passwords never show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from datamarket.config import (
    Secret,
    Settings,
    boolean,
    integer,
    names,
    names_among,
    secret,
    setting,
    text,
    url_schemes,
    within,
)
from datamarket.errors import ConfigError


@dataclass(frozen=True, kw_only=True, repr=False)
class Base(Settings):
    ENV_PREFIX: ClassVar[str] = "T_BASE_"
    CONFIG_ENV: ClassVar[str] = "T_BASE_CONFIG"
    TITLE: ClassVar[str] = "test settings"

    url: str = setting(parse=text, check=url_schemes("http", what="an http URL"))
    token: Secret = setting(Secret("default-token"), parse=secret, masked=True)
    db: str = setting("sqlite:///x.db", parse=text, url=True)


@dataclass(frozen=True, kw_only=True, repr=False)
class Child(Base):
    ENV_PREFIX: ClassVar[str] = "T_CHILD_"

    count: int = setting(3, parse=integer, check=within(1, 10))
    flag: bool = setting(False, parse=boolean)
    kinds: tuple[str, ...] = setting(("a",), parse=names, check=names_among("a", "b"))


def test_each_field_is_read_from_its_declaring_class_prefix() -> None:
    s = Child.load(env={"T_BASE_URL": "http://x", "T_CHILD_COUNT": "0x5", "T_CHILD_FLAG": "yes"})
    assert (s.url, s.count, s.flag, s.kinds) == ("http://x", 5, True, ("a",))
    assert Child.env_name("url") == "T_BASE_URL" and Child.env_name("count") == "T_CHILD_COUNT"
    # A field under the other class's prefix is not that field.
    assert Child.load(env={"T_BASE_URL": "http://x", "T_BASE_COUNT": "7"}).count == 3


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text('url = "http://file"\ncount = 4\nkinds = ["a", "b"]\n')
    s = Child.load(env={"T_BASE_CONFIG": str(config), "T_CHILD_COUNT": "6"})
    assert (s.url, s.count, s.kinds) == ("http://file", 6, ("a", "b"))


def test_every_problem_is_named_once_and_no_value_is_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        Child.load(env={"T_BASE_URL": "ftp://secret-host", "T_CHILD_COUNT": "12", "T_CHILD_KINDS": "a,c"})
    problems = caught.value.details["problems"]
    assert problems == [
        "url: must be an http URL",
        "count: must be an integer in [1, 10)",
        "kinds: a non-empty list of distinct names among a, b",
    ]
    assert "secret-host" not in str(caught.value) and caught.value.message.startswith("invalid test settings")


def test_unparsable_unknown_and_missing_values() -> None:
    with pytest.raises(ConfigError) as caught:
        Child.from_mapping({"count": "many", "colour": "red"})
    assert caught.value.details["problems"] == [
        "colour: unknown setting",
        "count: not a valid value",
        "url: required",
    ]


def test_repr_masks_secrets_and_url_passwords() -> None:
    s = Child.from_mapping({"url": "http://x", "token": "hunter2", "db": "postgresql://u:pw@db/x"})
    shown = repr(s) + str(s)
    assert "hunter2" not in shown and ":pw@" not in shown
    assert "token='***'" in shown and "postgresql://u:***@db/x" in shown
    assert s.token.reveal() == "hunter2"


def test_settings_are_frozen() -> None:
    s = Child.from_mapping({"url": "http://x"})
    with pytest.raises(AttributeError):
        s.count = 4  # type: ignore[misc]
