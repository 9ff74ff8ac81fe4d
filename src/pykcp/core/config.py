"""Session configuration: every knob of a kcp-go session (and kcptun's presets) in one place.

A :class:`Config` is immutable and validated on construction, so a bad value fails where it is
written rather than deep inside the I/O loop. Sessions read it once; the per-session setters
(``KCPSession.set_nodelay`` ...) change the live session, not the config.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Final

from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, BlockCrypt, derive_key, new_crypt
from pykcp.core.errors import ConfigError
from pykcp.core.wire import MTU_LIMIT

__all__ = ["PRESETS", "Config"]
# Below this a datagram cannot hold the crypto + FEC headers and one KCP segment header.
MIN_MTU: Final = 50

# kcptun's --mode presets: (nodelay, interval, resend, nc).
PRESETS: Final[dict[str, tuple[int, int, int, int]]] = {
    "normal": (0, 40, 2, 1),
    "fast": (0, 30, 2, 1),
    "fast2": (1, 20, 2, 1),
    "fast3": (1, 10, 2, 1),
}
# kcp-go's defaults when no preset is chosen (ikcp's own defaults).
KCPGO_TIMING: Final = (0, 100, 0, 0)


@dataclass(frozen=True, kw_only=True)
class Config:
    """Options of a KCP session or listener (kcp-go names in brackets).

    Crypto: ``crypt`` is a kcptun cipher name (``"aes"``, ``"salsa20"``, ``"none"``, ``"null"``
    ...) together with ``key``, or a ready cipher object from :mod:`pykcp.core.crypt`, or ``None``
    for no crypto layer at all (kcp-go's ``nil`` block, same as ``"null"``). A ``str`` key is a
    kcptun password (PBKDF2-SHA1, salt "kcp-go", 4096 rounds, 32 bytes); a ``bytes`` key is used
    as is. Note ``"none"`` still frames datagrams with nonce + CRC (kcp-go's NoneBlockCrypt).

    FEC: Reed-Solomon with ``data_shards`` + ``parity_shards`` (``DialWithOptions`` arguments);
    off unless both are positive. Either side understands FEC from a peer even when its own FEC
    is off, but the crypto settings must match exactly.

    Timing: ``mode`` picks a kcptun preset (normal, fast, fast2, fast3); ``nodelay``,
    ``interval``, ``resend``, ``nc`` override single values [SetNoDelay]. Without either,
    kcp-go's defaults (0, 100, 0, 0) apply.

    Liveness (not in kcp-go, which hangs forever on a vanished peer): ``idle_timeout`` ends the
    session with :class:`~pykcp.core.errors.PeerGoneError` after that many seconds without any
    datagram from the peer (pair it with application keepalives); ``dead_link_timeout`` does
    the same only while data is waiting for an acknowledgement, which needs no keepalive.
    (KCP's own dead-link counter, a segment sent 20 times, is not used: with nodelay it trips
    after a mere ~3.5 s stall of the peer, and kcp-go ignores it as well.)
    """

    crypt: str | BlockCrypt | AEADCrypt | None = None
    key: str | bytes | None = None
    data_shards: int = 0
    parity_shards: int = 0
    mode: str | None = None
    nodelay: int | None = None
    interval: int | None = None
    resend: int | None = None
    nc: int | None = None
    sndwnd: int = 32
    """Send window in segments [SetWindowSize]."""
    rcvwnd: int = 32
    """Receive window in segments [SetWindowSize]."""
    mtu: int = 1400
    """Largest UDP payload, all headers included [SetMtu]."""
    stream: bool = False
    """Stream mode: coalesce writes into full segments [SetStreamMode]."""
    write_delay: bool = False
    """Do not flush on every write; wait for the timer or a full window [SetWriteDelay]."""
    ack_nodelay: bool = False
    """Send ACKs right after each input datagram [SetACKNoDelay]."""
    dscp: int | None = None
    """DSCP value for outgoing datagrams (client sessions and listeners) [SetDSCP]."""
    read_buffer: int = 4 * 1024 * 1024
    """SO_RCVBUF of sockets pykcp creates (kcptun's 4 MiB); 0 keeps the OS default."""
    write_buffer: int = 4 * 1024 * 1024
    """SO_SNDBUF of sockets pykcp creates; 0 keeps the OS default."""
    idle_timeout: float | None = None
    dead_link_timeout: float | None = 30.0
    accept_backlog: int = 128
    """Sessions a listener queues for accept() before it drops new peers (kcp-go: 128)."""

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in PRESETS:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {sorted(PRESETS)}")
        key = self.key
        if key is not None and not isinstance(key, str):
            # Only text (a kcptun password) or bytes-like keys: anything else, an int above
            # all, used to reach bytes(key) and become an all-zero key of that length.
            if not isinstance(key, bytes | bytearray | memoryview):
                raise TypeError(f"key must be str or bytes-like, got {type(key).__name__}")
            object.__setattr__(self, "key", bytes(key))
        if isinstance(self.crypt, str):
            if self.crypt not in CIPHER_NAMES:
                raise ConfigError(
                    f"unknown cipher {self.crypt!r}; choose one of {list(CIPHER_NAMES)}"
                )
            if self.crypt != "null" and self.key is None:
                raise ConfigError(f"cipher {self.crypt!r} needs a key")
            if isinstance(self.key, bytes):
                # A raw key's length is checked here, not at the first dial. (A password
                # always derives 32 bytes, which every cipher accepts.)
                self.make_crypt()
        _check_range("data_shards", self.data_shards, 0, 255)
        _check_range("parity_shards", self.parity_shards, 0, 255)
        if self.data_shards + self.parity_shards > 256:
            raise ConfigError("data_shards + parity_shards must not exceed 256")
        if self.nodelay is not None:
            _check_range("nodelay", self.nodelay, 0, 2)
        if self.interval is not None:
            _check_range("interval", self.interval, 1, 5000)
        if self.resend is not None:
            _check_range("resend", self.resend, 0, 1 << 31)
        if self.nc is not None:
            _check_range("nc", self.nc, 0, 1)
        _check_range("sndwnd", self.sndwnd, 1, 65535)
        _check_range("rcvwnd", self.rcvwnd, 1, 65535)
        _check_range("mtu", self.mtu, MIN_MTU, MTU_LIMIT)
        if self.dscp is not None:
            _check_range("dscp", self.dscp, 0, 63)
        _check_range("read_buffer", self.read_buffer, 0, 1 << 30)
        _check_range("write_buffer", self.write_buffer, 0, 1 << 30)
        _check_range("accept_backlog", self.accept_backlog, 1, 1 << 20)
        for name in ("idle_timeout", "dead_link_timeout"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ConfigError(f"{name} must be a positive number of seconds or None")

    @classmethod
    def preset(cls, mode: str, **options: Any) -> Config:
        """A config with kcptun's timing preset *mode*; *options* set any other field."""
        return cls(mode=mode, **options)

    def replace(self, **changes: Any) -> Config:
        """A copy with *changes* applied (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    @property
    def fec_enabled(self) -> bool:
        """True when this side sends FEC (kcp-go builds an encoder only for positive shards)."""
        return self.data_shards > 0 and self.parity_shards > 0

    def timing(self) -> tuple[int, int, int, int]:
        """The effective (nodelay, interval, resend, nc) after preset and overrides."""
        base = PRESETS[self.mode] if self.mode is not None else KCPGO_TIMING
        return (
            base[0] if self.nodelay is None else self.nodelay,
            base[1] if self.interval is None else self.interval,
            base[2] if self.resend is None else self.resend,
            base[3] if self.nc is None else self.nc,
        )

    def make_crypt(self) -> BlockCrypt | AEADCrypt | None:
        """The cipher object this config describes (``None``: no crypto layer).

        Built once per config and shared by every session made from it (cipher objects are
        shareable): a password costs a 4096-round PBKDF2 and some key schedules (Twofish) take
        tens of milliseconds, which would otherwise block the event loop on every dial.
        """
        return self._crypt_object

    @functools.cached_property
    def _crypt_object(self) -> BlockCrypt | AEADCrypt | None:
        if self.crypt is None:
            return None
        if not isinstance(self.crypt, str):
            return self.crypt
        if self.crypt == "null":
            return None
        key = self.key
        raw = derive_key(key) if isinstance(key, str) else bytes(key or b"")
        return new_crypt(self.crypt, raw)


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
