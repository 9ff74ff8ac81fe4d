"""SNMP-style counters with kcp-go's names and order (protocol.md §7).

Hot paths increment plain attributes (``snmp.InPkts += 1``); that is the cheapest counter
Python has. Each session (and each listener, for what it drops) owns one :class:`Snmp`, and
the sans-IO core only ever touches those. The process-wide :data:`DEFAULT_SNMP`, kcp-go's
``DefaultSnmp``, is an :class:`SnmpTotals`: the I/O adapter attaches every live session's
counters to it and detaches them when the session ends, and a read sums them on the spot, so
the totals include live sessions at no cost per packet.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SNMP", "FIELDS", "FIELDS_5_6_1", "GAUGES", "Snmp", "SnmpTotals"]

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


# Gauges that add up across sessions into a process-wide level (the others are per-session
# levels whose sum would mean nothing; the totals report their largest value).
_SUMMED_GAUGES: frozenset[str] = frozenset(
    {"FECShardSet", "RingBufferSndQueue", "RingBufferRcvQueue", "RingBufferSndBuffer"}
)


class SnmpTotals:
    """Process-wide counters: what ended sessions counted plus every live one, summed on read.

    Reads look like an :class:`Snmp` (``totals.InPkts``, :meth:`copy`, :meth:`to_list` ...).
    ``CurrEstab`` is the number of attached sessions and ``MaxConn`` its highest value;
    queue gauges are summed over live sessions. Attach and detach are the adapter's business;
    reading is safe from any thread.
    """

    def __init__(self) -> None:
        self._retired = Snmp()
        self._live: dict[int, tuple[Snmp, bool]] = {}
        self._established = 0
        self._max_conn = 0

    def attach(self, snmp: Snmp, *, session: bool = True) -> None:
        """Count *snmp* from now on; *session* False for a listener's own counters."""
        if id(snmp) in self._live:
            return
        self._live[id(snmp)] = (snmp, session)
        if session:
            self._established += 1
            self._max_conn = max(self._max_conn, self._established)

    def detach(self, snmp: Snmp) -> None:
        """Fold *snmp*'s counts into the totals for good and stop reading it."""
        entry = self._live.pop(id(snmp), None)
        if entry is None:
            return
        retired = self._retired
        for name in FIELDS:
            if name not in GAUGES:
                setattr(retired, name, getattr(retired, name) + getattr(snmp, name))
        if entry[1]:
            self._established -= 1

    def _field(self, name: str, live: list[Snmp]) -> int:
        if name == "CurrEstab":
            return self._established
        if name == "MaxConn":
            return self._max_conn
        values: list[int] = [getattr(snmp, name) for snmp in live]
        if name in _SUMMED_GAUGES:
            return sum(values)
        if name in GAUGES:
            return max(values, default=0)
        return int(getattr(self._retired, name)) + sum(values)

    def __getattr__(self, name: str) -> int:
        if name not in FIELDS:
            raise AttributeError(name)
        return self._field(name, [entry[0] for entry in list(self._live.values())])

    def copy(self) -> Snmp:
        """A snapshot of the totals as a plain :class:`Snmp`."""
        live = [entry[0] for entry in list(self._live.values())]
        snapshot = Snmp()
        for name in FIELDS:
            setattr(snapshot, name, self._field(name, live))
        return snapshot

    def reset(self) -> None:
        """Forget what ended sessions counted (live sessions keep their own counters)."""
        self._retired.reset()
        self._max_conn = self._established

    @property
    def live_sessions(self) -> int:
        return self._established

    def header(self) -> list[str]:
        return self._retired.header()

    def to_list(self) -> list[str]:
        return self.copy().to_list()

    def as_dict(self) -> dict[str, int]:
        return self.copy().as_dict()

    def __repr__(self) -> str:
        return f"SnmpTotals({self.copy()!r}, live={self._established})"


DEFAULT_SNMP = SnmpTotals()
"""kcp-go's ``DefaultSnmp``: totals of every session of the process."""
