"""eth_getLogs in adaptive ranges: the span halves when the node refuses or times out, grows back after
each answer, and no block is skipped or read twice."""

from __future__ import annotations

import itertools

import pytest
import requests

from datamarket.chain.logs import LogFetcher, RangeRefused, Rpc
from datamarket.errors import ChainUnavailable


class NodeWithALimit:
    """Answers eth_getLogs for at most ``limit`` blocks (one log per block); refuses larger ranges."""

    def __init__(self, limit: int, *, timeout: bool = False, down: bool = False) -> None:
        self.limit, self.timeout, self.down = limit, timeout, down
        self.asked: list[tuple[int, int]] = []

    def make_request(self, method: str, params: list) -> dict:
        assert method == "eth_getLogs"
        if self.down:
            raise requests.ConnectionError("refused at http://node.example/key-123")
        low, high = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.asked.append((low, high))
        if high - low + 1 > self.limit:
            if self.timeout:
                raise requests.ReadTimeout("read timed out")
            return {
                "jsonrpc": "2.0",
                "id": 1,
                "error": {"code": -32005, "message": "query returned more than 10000"},
            }
        logs = [{"blockNumber": hex(n), "logIndex": "0x0"} for n in range(low, high + 1)]
        return {"jsonrpc": "2.0", "id": 1, "result": logs}


class W3:
    def __init__(self, provider) -> None:
        self.provider = provider


@pytest.mark.parametrize("timeout", [False, True])
def test_the_span_halves_on_refusal_and_every_block_comes_once(timeout: bool) -> None:
    node = NodeWithALimit(300, timeout=timeout)
    fetcher = LogFetcher(Rpc(W3(node)), span=2_000, max_span=5_000)
    logs = fetcher.get_logs({}, 10, 4_009)
    assert [int(log["blockNumber"], 16) for log in logs] == list(range(10, 4_010))
    assert fetcher.refusals >= 3
    answered = [(low, high) for low, high in node.asked if high - low + 1 <= 300]
    assert answered[0][0] == 10 and answered[-1][1] == 4_009
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(answered))


def test_the_span_grows_back_after_answers() -> None:
    node = NodeWithALimit(10**9)
    fetcher = LogFetcher(Rpc(W3(node)), span=100, max_span=1_600)
    fetcher.get_logs({}, 0, 10_000)
    spans = [high - low + 1 for low, high in node.asked]
    assert spans[:5] == [100, 200, 400, 800, 1_600] and max(spans) == 1_600


def test_one_block_refused_is_the_node_unavailable() -> None:
    fetcher = LogFetcher(Rpc(W3(NodeWithALimit(0))), span=8)
    with pytest.raises(ChainUnavailable, match="refused the logs of block 5"):
        fetcher.get_logs({}, 5, 20)


def test_a_node_that_is_down_is_unavailable_and_its_url_is_not_repeated() -> None:
    fetcher = LogFetcher(Rpc(W3(NodeWithALimit(10, down=True))))
    with pytest.raises(ChainUnavailable) as caught:
        fetcher.get_logs({}, 0, 5)
    assert "key-123" not in str(caught.value)


def test_an_error_answer_is_a_refusal() -> None:
    with pytest.raises(RangeRefused):
        Rpc(W3(NodeWithALimit(0))).call("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x2"}])
