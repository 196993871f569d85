"""Publishing's declarations on the publisher's machine: the CLI's flags and the request's checks."""

from __future__ import annotations

import pytest

from datamarket.sdk.publish import PublishError, PublishRequest, _declarations


def test_a_target_with_too_many_classes_stops_publishing_naming_it(tmp_path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("name,y\n" + "".join(f"p{i},{i % 2}\n" for i in range(40)))
    request = PublishRequest(path=table, name="t", compute=True, targets=("name",))
    with pytest.raises(PublishError, match="'name'") as caught:
        _declarations(request)
    assert caught.value.details == {"column": "name"}
    declared = _declarations(PublishRequest(path=table, name="t", compute=True, targets=("y",)))
    assert declared["targets"] == ["y"] and declared["columns"]["y"]["values"] == [0, 1]
    assert "name" not in declared["columns"]
