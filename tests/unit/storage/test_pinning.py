"""The pinning service client against the stand-in service (the spec's API, answered in process and
checked against the spec's shapes), and against hostile or broken answers."""

from __future__ import annotations

import io
import json

import pytest
import requests
from requests.adapters import BaseAdapter

from datamarket.config import Secret
from datamarket.errors import ConfigError, safe_details
from datamarket.storage.base import InvalidCID, add_bytes, cat_bytes
from datamarket.storage.embedded import EmbeddedStore
from datamarket.storage.pin_status import Pin
from datamarket.storage.pinning import (
    MAX_ANSWER_BYTES,
    PinFailed,
    PinningService,
    PinNotFound,
    PinServiceInvalidAnswer,
    PinServiceNoFunds,
    PinServiceRefused,
    PinServiceUnauthorized,
    PinServiceUnavailable,
    PinWaitTimeout,
)
from tests.pinning_service import PinningStandIn
from tests.pinning_spec import check_answer
from tests.wsgi_adapter import WsgiAdapter

BASE = "https://pinning.test/psa"
TOKEN = "tok_5ecret-Access-Token-0123456789"
DATA = bytes(range(256)) * 3000  # three 256 KiB chunks and a bit: a DAG of several blocks


@pytest.fixture
def network(tmp_path) -> EmbeddedStore:
    """The IPFS network as the stand-in service reaches it."""
    return EmbeddedStore(tmp_path / "network", sync=False)


@pytest.fixture
def stand_in(tmp_path, network) -> PinningStandIn:
    return PinningStandIn([TOKEN, "another-account-token"], tmp_path, network)


def connect(stand_in: PinningStandIn, token: str = TOKEN) -> PinningService:
    """A client of the stand-in under BASE; every answer is checked against the spec."""
    session = requests.Session()
    app = _prefixed(stand_in.app, "/psa")
    session.mount("https://pinning.test", WsgiAdapter(app, check=lambda m, p, *a: check_answer(
        m, p.removeprefix("/psa"), *a
    )))  # fmt: skip
    return PinningService(BASE, Secret(token), session=session)


def _prefixed(app, prefix: str):
    """The app mounted below ``prefix`` (a service's API need not be at the root)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    return DispatcherMiddleware(lambda env, start: start("404 NOT FOUND", []) or [b""], {prefix: app})


@pytest.fixture
def service(stand_in) -> PinningService:
    return connect(stand_in)


def steps(stand_in: PinningStandIn):
    """A ``sleep`` for ``wait`` that lets the service move one step instead of sleeping."""
    return lambda seconds: stand_in.step()


# ---------------------------------------------------------------------------------- the API


def test_add_sends_the_spec_pin_object_and_gets_a_queued_status(service, stand_in, network) -> None:
    cid = add_bytes(network, DATA)
    origins = ("/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWGApAVXezZGrjZneroU2CqKnJL3DwE4J2Vf4gh9ZQtB7d",)
    status = service.add(Pin(cid, name="Patients", origins=origins, meta={"app": "datamarket"}))
    assert (status.status, status.pin.cid, status.pin.name, status.pin.origins) == (
        "queued", cid, "Patients", origins,
    )  # fmt: skip
    record = stand_in.pins[status.requestid]
    assert record.pin == {
        "cid": cid,
        "name": "Patients",
        "origins": list(origins),
        "meta": {"app": "datamarket"},
    }
    assert stand_in.requests[-1] == ("POST", "/pins", True)


def test_wait_follows_the_pin_until_the_content_is_held(service, stand_in, network) -> None:
    cid = add_bytes(network, DATA)
    seen = []
    added = service.add(Pin(cid))
    pinned = service.wait(added.requestid, on_progress=lambda s: seen.append(s.status), sleep=steps(stand_in))
    assert pinned.status == "pinned" and pinned.requestid == added.requestid
    assert seen == ["queued", "pinning", "pinned"]
    assert cat_bytes(stand_in.store, cid) == DATA  # the service really holds every block


def test_content_the_network_lacks_fails_with_the_service_reason(service, stand_in, tmp_path) -> None:
    missing = add_bytes(EmbeddedStore(tmp_path / "elsewhere"), b"never published")
    added = service.add(Pin(missing))
    with pytest.raises(PinFailed) as failed:
        service.wait(added.requestid, sleep=steps(stand_in))
    assert "not on the IPFS network" in failed.value.message
    assert failed.value.details == {"requestid": added.requestid, "cid": missing}


def test_wait_gives_up_after_its_timeout_with_the_last_status(service, stand_in, network) -> None:
    stand_in.admit.clear()  # a busy service: the pin stays queued
    added = service.add(Pin(add_bytes(network, b"x")))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(PinWaitTimeout) as timed_out:
        service.wait(added.requestid, timeout=30, clock=lambda: now[0], sleep=sleep)
    assert timed_out.value.details == {"requestid": added.requestid, "status": "queued"}
    assert now[0] == 30  # the last sleep is cut to what is left


def test_listing_follows_the_spec_filters_and_pages(service, stand_in, network) -> None:
    cids = [add_bytes(network, b"file %d" % i) for i in range(5)]
    added = [
        service.add(Pin(cid, name=f"part-{i}", meta={"set": "a" if i % 2 else "b"}))
        for i, cid in enumerate(cids)
    ]
    for _ in range(5):  # two pins pinned, one pinning, two queued
        stand_in.step()
    everything = ("queued", "pinning", "pinned", "failed")
    assert service.list().count == 2  # the spec's default: pinned only
    first = service.list(statuses=everything, limit=2)
    assert first.count == 5 and [s.requestid for s in first.results] == [
        added[4].requestid,
        added[3].requestid,
    ]
    second = service.list(statuses=everything, limit=2, before=first.results[-1].created)
    assert [s.requestid for s in second.results] == [added[2].requestid, added[1].requestid]
    assert [s.pin.cid for s in service.list(cids=[cids[0]], statuses=everything).results] == [cids[0]]
    assert [s.pin.name for s in service.list(name="part-3", statuses=everything).results] == ["part-3"]
    assert {s.pin.name for s in service.list(meta={"set": "a"}, statuses=everything).results} == {
        "part-1", "part-3",
    }  # fmt: skip
    assert [s.status for s in service.list(statuses=["pinning"]).results] == ["pinning"]


def test_one_account_never_sees_another_accounts_pins(service, stand_in, network) -> None:
    mine = service.add(Pin(add_bytes(network, b"mine")))
    other = connect(stand_in, "another-account-token")
    assert other.list(statuses=["queued"]).count == 0
    with pytest.raises(PinNotFound):
        other.get(mine.requestid)
    with pytest.raises(PinNotFound):
        other.remove(mine.requestid)
    assert service.get(mine.requestid).status == "queued"


def test_replace_swaps_the_request_and_remove_ends_it(service, stand_in, network) -> None:
    old = service.add(Pin(add_bytes(network, b"v1"), name="doc"))
    new_cid = add_bytes(network, b"v2")
    new = service.replace(old.requestid, Pin(new_cid, name="doc"))
    assert new.requestid != old.requestid and new.pin.cid == new_cid
    with pytest.raises(PinNotFound):
        service.get(old.requestid)
    service.wait(new.requestid, sleep=steps(stand_in))
    assert new_cid in stand_in.store.pins()
    service.remove(new.requestid)
    assert new_cid not in stand_in.store.pins()
    with pytest.raises(PinNotFound) as gone:
        service.get(new.requestid)
    assert gone.value.code == "pin_not_found" and str(gone.value) == gone.value.message


def test_a_request_id_is_a_path_segment_and_nothing_more(service, stand_in) -> None:
    with pytest.raises(PinNotFound):
        service.get("../pins")  # quoted: never another route
    assert stand_in.requests[-1] == ("GET", "/pins/../pins", True)
    for bad in ("", "a b", "x" * 513, "new\nline"):
        with pytest.raises(ConfigError):
            service.get(bad)


def test_a_cid_is_checked_before_anything_is_sent(service, stand_in) -> None:
    with pytest.raises(InvalidCID):
        service.add(Pin("not-a-cid"))
    with pytest.raises(ConfigError):
        service.add(Pin(_CID, name="n" * 256))
    with pytest.raises(ConfigError):
        service.add(Pin(_CID, origins=("/ip4/203.0.113.7/tcp/4001/p2p/QmPeer",) * 2))
    with pytest.raises(ConfigError):
        service.list(limit=1001)
    with pytest.raises(ConfigError):
        service.list(statuses=["done"])
    assert stand_in.requests == []


_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


# ---------------------------------------------------------------------------------- the token


def test_a_wrong_token_is_refused_and_never_shown(stand_in) -> None:
    wrong = "wrong-token-ABCDEFGHIJKLMNOP"
    with pytest.raises(PinServiceUnauthorized) as refused:
        connect(stand_in, wrong).list()
    shown = refused.value.message + json.dumps(safe_details(refused.value.details))
    assert wrong not in shown and TOKEN not in shown
    assert "401" in refused.value.message and "DATAMARKET_PIN_SERVICE_TOKEN" in refused.value.message
    assert stand_in.requests == [("GET", "/pins", False)]


def test_the_token_goes_in_the_authorization_header_only(stand_in) -> None:
    service = connect(stand_in)
    adapter = service._session.get_adapter(BASE)
    service.list()
    sent = adapter.sent[-1]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in sent.url and TOKEN not in repr(service)


@pytest.mark.parametrize("token", ["", "has space", "new\nline", "é-not-ascii", "x" * 8193])
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(token) -> None:
    with pytest.raises(ConfigError) as refused:
        PinningService(BASE, Secret(token))
    if token:
        assert token not in refused.value.message


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.pinata.cloud/psa/", True),
        ("http://127.0.0.1:5000", True),
        ("http://localhost:5000/api", True),
        ("http://pinning.example/psa", False),  # the token would cross the network in clear
        ("https://user:pw@pinning.example", False),
        ("https://pinning.example/psa?key=1", False),
        ("ftp://pinning.example", False),
        ("https://pinning.example:port", False),
        ("pinning.example", False),
    ],
)
def test_service_urls(url, accepted) -> None:
    if accepted:
        assert PinningService(url, Secret(TOKEN)).url == url.rstrip("/")
    else:
        with pytest.raises(ConfigError):
            PinningService(url, Secret(TOKEN))


# ---------------------------------------------------------------------------------- hostile answers


class Answering(BaseAdapter):
    """Answers each request with the next canned answer: (status, body[, headers]) or an exception."""

    def __init__(self, *answers) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, stream=False, **kwargs):
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, *headers = answer
        response = requests.Response()
        response.status_code = status
        response.raw = io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode())
        response.headers.update({"Content-Type": "application/json", **(headers[0] if headers else {})})
        response.url, response.request = request.url, request
        return response

    def close(self) -> None:
        pass


def canned(*answers) -> tuple[PinningService, Answering]:
    adapter = Answering(*answers)
    session = requests.Session()
    session.mount("https://", adapter)
    return PinningService(BASE, Secret(TOKEN), session=session), adapter


def status_body(**changes) -> dict:
    body = {"requestid": "r1", "status": "queued", "created": "2020-07-27T17:32:28.276Z",
            "pin": {"cid": _CID}, "delegates": ["/ip4/203.0.113.1/tcp/4001/p2p/QmServicePeerId"]}  # fmt: skip
    body.update(changes)
    return body


def failure(reason: str, details: str = "") -> dict:
    return {"error": {"reason": reason, "details": details}}


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, PinServiceRefused, "pin_service_refused"),
        (401, PinServiceUnauthorized, "pin_service_unauthorized"),
        (403, PinServiceUnauthorized, "pin_service_unauthorized"),
        (404, PinNotFound, "pin_not_found"),
        (409, PinServiceNoFunds, "pin_service_no_funds"),
        (429, PinServiceRefused, "pin_service_refused"),
        (500, PinServiceUnavailable, "pin_service_unavailable"),
        (503, PinServiceUnavailable, "pin_service_unavailable"),
    ],
)
def test_each_error_status_is_its_own_error(status, error, code) -> None:
    service, _ = canned((status, failure("SOME_REASON", "more words")))
    with pytest.raises(error) as raised:
        service.get("r1")
    assert raised.value.code == code
    assert raised.value.details["status"] == status and raised.value.details["reason"] == "SOME_REASON"
    assert str(status) in raised.value.message


def test_a_service_that_echoes_the_token_or_writes_escapes_is_shown_cleaned() -> None:
    echoed = f"token {TOKEN} is invalid\x1b[2J\x1b]0;owned\x07\r\nsecond line"
    service, _ = canned((401, failure(f"BAD\x1b[31m{TOKEN}", echoed)))
    with pytest.raises(PinServiceUnauthorized) as refused:
        service.list()
    everything = refused.value.message + json.dumps(refused.value.details)
    assert TOKEN not in everything and "\x1b" not in everything and "\n" not in everything
    assert "token *** is invalid" in refused.value.message


def test_an_error_that_is_not_the_failure_object_still_says_the_status() -> None:
    service, _ = canned((502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}))
    with pytest.raises(PinServiceUnavailable, match=r"\(502\)"):
        service.get("r1")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b"NaN", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (status_body(status="done"), "status"),
        (status_body(created="yesterday"), "created"),
        (status_body(created="2020-07-27T17:32:28"), "created"),  # no time zone
        ({k: v for k, v in status_body().items() if k != "delegates"}, "delegates"),
        (status_body(delegates=["/a"] * 21), "delegates"),
        (status_body(pin={"cid": _CID, "name": "n" * 256}), "name"),
        (status_body(pin={"cid": _CID, "meta": {"a": 1}}), "meta"),
        (status_body(info={"status_details": ["not", "a", "string"]}), "info"),
        (status_body(requestid="with space"), "requestid"),
        (status_body(requestid="r1\x1b[2J"), "requestid"),
    ],
)
def test_answers_not_in_the_spec_shape_are_refused(body, problem) -> None:
    service, _ = canned((200, body))
    with pytest.raises(PinServiceInvalidAnswer, match=problem):
        service.get("r1")


def test_a_listing_is_checked_item_by_item() -> None:
    good = status_body()
    for body, problem in [
        ({"count": 1, "results": [good, status_body(status="?")]}, r"results\[1\]\.status"),
        ({"count": -1, "results": []}, "count"),
        ({"count": 0, "results": [good]}, "less than"),
        ({"count": 2, "results": [good, good]}, "twice"),
        ({"count": 5, "results": {"r1": good}}, "results"),
    ]:
        service, _ = canned((200, body))
        with pytest.raises(PinServiceInvalidAnswer, match=problem):
            service.list()


def test_an_answer_about_other_content_or_another_request_is_refused() -> None:
    other = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    service, _ = canned((202, status_body(pin={"cid": other})))
    with pytest.raises(PinServiceInvalidAnswer, match="answered about"):
        service.add(Pin(_CID))
    service, _ = canned((200, status_body(requestid="r2")))
    with pytest.raises(PinServiceInvalidAnswer, match="another pin request"):
        service.get("r1")


def test_a_cidv0_answer_for_a_cidv1_request_of_the_same_content_is_accepted() -> None:
    v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    from datamarket.storage.cid import CID

    v1 = str(CID.parse(v0).to_v1())
    service, _ = canned((202, status_body(pin={"cid": v0})))
    assert service.add(Pin(v1)).pin.cid == v0


def test_answers_are_read_up_to_a_bound() -> None:
    huge = b'{"count": 0, "results": [], "pad": "' + b"x" * MAX_ANSWER_BYTES + b'"}'
    service, _ = canned((200, huge))
    with pytest.raises(PinServiceInvalidAnswer, match="larger than"):
        service.list()
    service, _ = canned((200, b"{}", {"Content-Length": str(MAX_ANSWER_BYTES + 1)}))
    with pytest.raises(PinServiceInvalidAnswer, match="larger than"):
        service.list()


def test_a_redirect_is_not_followed() -> None:
    service, adapter = canned((302, b"", {"Location": "https://elsewhere.example/steal"}))
    with pytest.raises(PinServiceUnavailable, match="redirect"):
        service.list()
    assert len(adapter.sent) == 1


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (requests.ConnectTimeout("connect timed out"), "did not answer within"),
        (requests.ConnectionError("refused"), "cannot be reached"),
    ],
)
def test_network_failures_are_unavailable(exc, words) -> None:
    service, _ = canned(exc)
    with pytest.raises(PinServiceUnavailable, match=words) as raised:
        service.list()
    assert raised.value.details == {"service": BASE}


def test_wait_asks_again_when_the_service_is_briefly_unavailable() -> None:
    service, adapter = canned(
        requests.ConnectionError("reset"), (503, failure("BUSY")), (200, status_body(status="pinned"))
    )
    assert service.wait("r1", sleep=lambda s: None).status == "pinned"
    assert len(adapter.sent) == 3


def test_wait_reports_unavailability_that_outlasts_it() -> None:
    now = [0.0]
    service, _ = canned(*[requests.ConnectionError("down")] * 20)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(PinServiceUnavailable):
        service.wait("r1", timeout=10, clock=lambda: now[0], sleep=sleep)


def test_a_404_on_the_pins_collection_means_a_wrong_base_url() -> None:
    service, _ = canned((404, b"Not Found", {"Content-Type": "text/plain"}))
    with pytest.raises(PinServiceRefused, match="DATAMARKET_PIN_SERVICE_URL the base of its API") as raised:
        service.add(Pin(_CID))
    assert not isinstance(raised.value, PinNotFound)
