"""SNMP-style counters with kcp-go's names and order.

Hot paths increment plain attributes (``snmp.InPkts += 1``); that is the cheapest counter
Python has. Each session owns one :class:`Snmp`; the process-wide :data:`DEFAULT_SNMP` is what
kcp-go calls ``DefaultSnmp`` and collects the totals of every session (sessions fold their
counts into it, see :meth:`Snmp.add`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_SNMP", "FIELDS", "FIELDS_5_6_1", "GAUGES", "Snmp"]

# kcp-go (latest) Header() order, plus FECShortShards which only 5.6.1 reports.
FIELDS: tuple[str, ...] = (
    "BytesSent",
    "BytesReceived",
    "MaxConn",
    "ActiveOpens",
    "PassiveOpens",
    "CurrEstab",
    "InErrs",
    "InCsumErrors",
    "KCPInErrors",
    "InPkts",
    "OutPkts",
    "InSegs",
    "OutSegs",
    "InBytes",
    "OutBytes",
    "RetransSegs",
    "FastRetransSegs",
    "EarlyRetransSegs",
    "LostSegs",
    "RepeatSegs",
    "FECFullShardSet",
    "FECParityShards",
    "FECErrs",
    "FECRecovered",
    "FECShardSet",
    "FECShardMin",
    "RingBufferSndQueue",
    "RingBufferRcvQueue",
    "RingBufferSndBuffer",
    "OOBPackets",
    "FECShortShards",
)

# kcp-go 5.6.1's Header() (what Debian's kcptun 20210922 logs): the first 20 of the latest
# order, then its four FEC counters.
FIELDS_5_6_1: tuple[str, ...] = (
    *FIELDS[:20],
    "FECParityShards",
    "FECErrs",
    "FECRecovered",
    "FECShortShards",
)

# Gauges are levels, not event counts: summing them across sessions is meaningless, so
# add() takes the newer value and the header keeps kcp-go's spelling.
GAUGES: frozenset[str] = frozenset(
    {
        "MaxConn",
        "CurrEstab",
        "FECShardSet",
        "FECShardMin",
        "RingBufferSndQueue",
        "RingBufferRcvQueue",
        "RingBufferSndBuffer",
    }
)

_HEADER_NAMES = {"FECFullShardSet": "FECFullShards"}


class Snmp:
    """A set of counters; every attribute named in :data:`FIELDS` is an ``int``."""

    __slots__ = FIELDS

    BytesSent: int
    BytesReceived: int
    MaxConn: int
    ActiveOpens: int
    PassiveOpens: int
    CurrEstab: int
    InErrs: int
    InCsumErrors: int
    KCPInErrors: int
    InPkts: int
    OutPkts: int
    InSegs: int
    OutSegs: int
    InBytes: int
    OutBytes: int
    RetransSegs: int
    FastRetransSegs: int
    EarlyRetransSegs: int
    LostSegs: int
    RepeatSegs: int
    FECFullShardSet: int
    FECParityShards: int
    FECErrs: int
    FECRecovered: int
    FECShardSet: int
    FECShardMin: int
    RingBufferSndQueue: int
    RingBufferRcvQueue: int
    RingBufferSndBuffer: int
    OOBPackets: int
    FECShortShards: int

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        for name in FIELDS:
            setattr(self, name, 0)

    def copy(self) -> Snmp:
        """A snapshot that later increments do not change."""
        other = Snmp()
        for name in FIELDS:
            setattr(other, name, getattr(self, name))
        return other

    def add(self, other: Snmp) -> None:
        """Fold *other*'s counts into this one (gauges take *other*'s level)."""
        for name in FIELDS:
            if name in GAUGES:
                if name == "MaxConn":
                    self.MaxConn = max(self.MaxConn, other.MaxConn)
                elif name != "CurrEstab":
                    setattr(self, name, getattr(other, name))
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def header(self) -> list[str]:
        """Column names in kcp-go's ``Header()`` order."""
        return [_HEADER_NAMES.get(name, name) for name in FIELDS]

    def to_list(self) -> list[str]:
        """Values as decimal strings, in :meth:`header` order (kcp-go's ``ToSlice``)."""
        return [str(getattr(self, name)) for name in FIELDS]

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIELDS}

    def __repr__(self) -> str:
        busy = ", ".join(f"{k}={v}" for k, v in self.as_dict().items() if v)
        return f"Snmp({busy})"


DEFAULT_SNMP = Snmp()
