from __future__ import annotations

from pykcp.core.snmp import FIELDS, Snmp


def test_header_matches_kcp_go_order_and_names() -> None:
    header = Snmp().header()
    first = "BytesSent BytesReceived MaxConn ActiveOpens PassiveOpens CurrEstab"
    assert " ".join(header[:6]) == first
    assert "FECFullShards" in header and "FECFullShardSet" not in header
    assert header[-2:] == ["OOBPackets", "FECShortShards"]
    assert len(header) == len(FIELDS) == len(set(header))


def test_copy_is_a_snapshot_and_reset_zeroes() -> None:
    s = Snmp()
    s.InPkts += 3
    snap = s.copy()
    s.InPkts += 1
    assert snap.InPkts == 3 and s.InPkts == 4
    assert s.to_list()[FIELDS.index("InPkts")] == "4"
    s.reset()
    assert all(v == 0 for v in s.as_dict().values())


def test_add_sums_counts_and_keeps_gauge_levels() -> None:
    total, one = Snmp(), Snmp()
    total.OutSegs, one.OutSegs = 10, 5
    total.RingBufferSndQueue, one.RingBufferSndQueue = 7, 2
    total.MaxConn, one.MaxConn = 3, 9
    total.add(one)
    assert total.OutSegs == 15
    assert total.RingBufferSndQueue == 2
    assert total.MaxConn == 9
