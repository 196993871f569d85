"""The origins a pin request carries: the publisher's IPFS node's addresses, as the spec wants them."""

from __future__ import annotations

from datamarket.storage.pinning import origins

PEER = "12D3KooWGApAVXezZGrjZneroU2CqKnJL3DwE4J2Vf4gh9ZQtB7d"
RELAY = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


def test_public_addresses_end_in_the_peer_id() -> None:
    found = origins(PEER, [
        "/ip4/93.184.216.34/tcp/4001",
        f"/ip4/93.184.216.34/udp/4001/quic-v1/p2p/{PEER}",
        f"/ip6/2606:4700::1111/tcp/4001/ipfs/{PEER}",  # the old name of /p2p
        "/dns4/node.example.org/tcp/4001/",
    ], local=False)  # fmt: skip
    assert found == (
        f"/ip4/93.184.216.34/tcp/4001/p2p/{PEER}",
        f"/ip4/93.184.216.34/udp/4001/quic-v1/p2p/{PEER}",
        f"/ip6/2606:4700::1111/tcp/4001/p2p/{PEER}",
        f"/dns4/node.example.org/tcp/4001/p2p/{PEER}",
    )


def test_local_addresses_go_only_to_a_service_on_this_machine() -> None:
    local = ["/ip4/127.0.0.1/tcp/4001", "/ip4/192.168.1.20/tcp/4001", "/ip6/::1/tcp/4001",
             "/ip4/169.254.3.4/tcp/4001", "/dns4/localhost/tcp/4001"]  # fmt: skip
    assert origins(PEER, local, local=False) == ()
    assert origins(PEER, local, local=True) == tuple(f"{a}/p2p/{PEER}" for a in local)


def test_addresses_through_other_peers_and_nonsense_are_left_out() -> None:
    odd = [f"/ip4/93.184.216.9/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{PEER}",
           f"/ip4/93.184.216.9/tcp/1/p2p/{RELAY}", "not a multiaddr", "/", "/ip4/x/tcp/1"]  # fmt: skip
    assert origins(PEER, odd, local=False) == ()


def test_at_most_twenty_distinct_origins() -> None:
    many = [f"/ip4/93.184.216.{i}/tcp/4001" for i in range(30)] * 2
    found = origins(PEER, many, local=False)
    assert len(found) == 20 == len(set(found))


def test_a_peer_id_that_is_not_one_gives_no_origins() -> None:
    assert origins("../../etc", ["/ip4/93.184.216.34/tcp/4001"], local=False) == ()
    assert origins("", ["/ip4/93.184.216.34/tcp/4001"], local=False) == ()


def test_documentation_and_shared_ranges_are_not_the_internet() -> None:
    assert origins(PEER, ["/ip4/203.0.113.7/tcp/4001", "/ip4/100.64.0.1/tcp/4001"], local=False) == ()
