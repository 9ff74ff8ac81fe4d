"""The KCP core against datagrams captured from a running kcp-go 5.6.1 (tests/vectors, wire)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pykcp.core.kcp import CMD_ACK, CMD_PUSH, HEADER, KCP
from tests.vectors import hex_list, load

WIRE = load("wire")
FEC_DATA, FEC_PARITY = 0xF1, 0xF2


def vector_id(v: dict[str, Any]) -> str:
    return f"{v['cipher']}-fec{v['data_shards']}"


def kcp_payloads(vector: dict[str, Any]) -> list[bytes]:
    """The KCP bytes of every captured datagram: FEC data header stripped, parity skipped."""
    out = []
    for plain in hex_list(vector["decrypted_hex"]):
        if vector["data_shards"]:
            _seqid, kind, size = struct.unpack_from("<IHH", plain)
            if kind == FEC_PARITY:
                continue
            assert kind == FEC_DATA
            # size counts itself (2 bytes) plus the KCP bytes that follow.
            plain = plain[8 : 6 + size]
        out.append(plain)
    return out


def header_fields(datagrams: list[bytes]) -> list[tuple[int, ...]]:
    """(conv, cmd, frg, wnd, sn, una, len) of every segment; ts is the sender's clock."""
    fields: list[tuple[int, ...]] = []
    for d in datagrams:
        off = 0
        while len(d) - off >= 24:
            conv, cmd, frg, wnd, _ts, sn, una, length = HEADER.unpack_from(d, off)
            fields.append((conv, cmd, frg, wnd, sn, una, length))
            off += 24 + length
        assert off == len(d)
    return fields


def test_vectors_present() -> None:
    assert len(WIRE) >= 2
    assert {v["conv"] for v in WIRE} == {287454020}
    assert any(v["data_shards"] for v in WIRE) and any(not v["data_shards"] for v in WIRE)


@pytest.mark.parametrize("vector", WIRE, ids=vector_id)
def test_parses_kcp_go_segments(vector: dict[str, Any]) -> None:
    receiver = KCP(vector["conv"])
    receiver.setmtu(vector["mtu"])
    now = 1000
    for payload in kcp_payloads(vector):
        assert receiver.input(payload, now) == 0
        now += 1
    got = []
    while (message := receiver.recv()) is not None:
        got.append(message)
    assert got == hex_list(vector["messages_hex"])
    # Every PUSH gets acknowledged; the jitter filter leaves one ACK carrying una = all.
    receiver.flush(now)
    acks = [f for f in header_fields(receiver.take_output()) if f[1] == CMD_ACK]
    assert acks and acks[-1][5] == len(got)
    assert receiver.snmp.InSegs == len(got) and receiver.snmp.RepeatSegs == 0


@pytest.mark.parametrize("vector", WIRE, ids=vector_id)
def test_produces_kcp_go_segment_headers(vector: dict[str, Any]) -> None:
    sender = KCP(vector["conv"])
    sender.setmtu(vector["mtu"])
    sender.nodelay(0, 100, 0, 1)  # the captured sender had every write in flight at once
    produced: list[bytes] = []
    now = 18
    sender.flush(now)  # a kcp-go session flushes once at creation
    for message in hex_list(vector["messages_hex"]):
        assert sender.send(message) == 0
        sender.flush(now)  # ... and after every Write
        produced += sender.take_output()
    captured = kcp_payloads(vector)
    assert header_fields(produced) == header_fields(captured)
    assert all(f[1] == CMD_PUSH for f in header_fields(produced))
    # Same bytes too, apart from the 4-byte ts at offset 8 of each single-segment datagram.
    assert [d[:8] + d[12:] for d in produced] == [d[:8] + d[12:] for d in captured]
