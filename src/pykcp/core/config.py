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
from pykcp.core.errors import ConfigError, ConfigTypeError
from pykcp.core.wire import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    CFB_HEADER_SIZE,
    FEC_OVERHEAD,
    KCP_OVERHEAD,
    MTU_LIMIT,
)

__all__ = ["PRESETS", "Config", "kcptun_fec"]

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

    Every field is checked here, at construction: a wrong type raises
    :class:`~pykcp.core.errors.ConfigTypeError` (a ``TypeError``), a value out of range or an
    inconsistent combination :class:`~pykcp.core.errors.ConfigError` (a ``ValueError``), each
    naming the field. Nothing is deferred to the first dial.

    Crypto: ``crypt`` is a kcptun cipher name (``"aes"``, ``"salsa20"``, ``"none"``, ``"null"``
    ...) together with ``key``, or a ready cipher object from :mod:`pykcp.core.crypt`, or
    ``None`` for no crypto layer at all (kcp-go's ``nil`` block, same as ``"null"``). A ``str``
    key is a kcptun password (PBKDF2-SHA1, salt "kcp-go", 4096 rounds, 32 bytes); a
    bytes-like key is used as is (its length is checked against the cipher). Note ``"none"``
    still frames datagrams with nonce + CRC (kcp-go's NoneBlockCrypt).

    FEC: Reed-Solomon with ``data_shards`` + ``parity_shards`` (``DialWithOptions`` arguments);
    both positive, or both 0 for no FEC. Either side understands FEC from a peer even when its
    own FEC is off, but the crypto settings must match exactly.

    Timing: ``mode`` picks a kcptun preset (normal, fast, fast2, fast3); ``nodelay``,
    ``interval``, ``resend``, ``nc`` override single values [SetNoDelay]. Without either,
    kcp-go's defaults (0, 100, 0, 0) apply.

    Liveness (not in kcp-go, whose sessions live forever once a peer vanishes, protocol.md
    §6.5): after ``keepalive`` seconds without hearing from the peer a session sends a window
    probe (WASK), which every KCP peer, kcp-go included, answers; ``idle_timeout`` ends the
    session with :class:`~pykcp.core.errors.PeerGoneError` after that many seconds without
    hearing from it; ``dead_link_timeout`` does the same sooner while data waits for an
    acknowledgement. (KCP's own dead-link counter, a segment sent 20 times, is not used: with
    nodelay it trips after a mere ~3.5 s stall of the peer, and kcp-go ignores it as well.)

    Servers (not in kcp-go, protocol.md §6.4): a listener keeps at most ``max_sessions``
    sessions, and at most ``accept_backlog`` new ones that are not yet accepted or not yet
    established (the peer has sent a second datagram or acknowledged ours); a new session
    that is not established within ``establish_timeout`` seconds is dropped.
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
    """Largest UDP payload, all headers included [SetMtu]; at least the headers of the chosen
    crypto and FEC plus one KCP segment with one byte (25 bytes with neither)."""
    stream: bool = False
    """Stream mode: coalesce writes into full segments [SetStreamMode]."""
    write_delay: bool = False
    """Do not flush on every write; wait for the timer or a full window [SetWriteDelay]."""
    ack_nodelay: bool = False
    """Send ACKs right after each input datagram [SetACKNoDelay]."""
    rate_limit: int = 0
    """Bytes per second a session may send, all headers included; 0 = no limit
    [SetRateLimit]."""
    dscp: int | None = None
    """DSCP value for outgoing datagrams (client sessions and listeners) [SetDSCP]."""
    read_buffer: int = 4 * 1024 * 1024
    """SO_RCVBUF of sockets pykcp creates (kcptun's 4 MiB); 0 keeps the OS default."""
    write_buffer: int = 4 * 1024 * 1024
    """SO_SNDBUF of sockets pykcp creates; 0 keeps the OS default."""
    keepalive: float | None = 10.0
    """Seconds without hearing from the peer before a session probes it (WASK); None: never."""
    idle_timeout: float | None = 60.0
    """Seconds without hearing from the peer before the session ends; None: never."""
    dead_link_timeout: float | None = 30.0
    """The same while data waits for an acknowledgement; None: never."""
    accept_backlog: int = 128
    """New sessions a listener holds that are not yet accepted or not yet established; more
    new peers are dropped until some are (kcp-go's accept queue is 128)."""
    max_sessions: int = 4096
    """Live sessions a listener keeps at most; datagrams from further new peers are dropped."""
    establish_timeout: float = 30.0
    """Seconds a listener's new session may wait to be established before it is dropped."""

    def __post_init__(self) -> None:
        self._check_crypto()
        _check_int("data_shards", self.data_shards, 0, 255)
        _check_int("parity_shards", self.parity_shards, 0, 255)
        if (self.data_shards > 0) != (self.parity_shards > 0):
            raise ConfigError(
                "data_shards and parity_shards must both be positive (FEC) or both 0 (no FEC), "
                f"got {self.data_shards} and {self.parity_shards}"
            )
        if self.data_shards + self.parity_shards > 256:
            raise ConfigError("data_shards + parity_shards must not exceed 256")
        if self.mode is not None:
            _check_type("mode", self.mode, str)
            if self.mode not in PRESETS:
                raise ConfigError(f"unknown mode {self.mode!r}; choose one of {sorted(PRESETS)}")
        _check_int("nodelay", self.nodelay, 0, 2, optional=True)
        _check_int("interval", self.interval, 1, 5000, optional=True)
        _check_int("resend", self.resend, 0, 1 << 31, optional=True)
        _check_int("nc", self.nc, 0, 1, optional=True)
        _check_int("sndwnd", self.sndwnd, 1, 65535)
        _check_int("rcvwnd", self.rcvwnd, 1, 65535)
        _check_int("mtu", self.mtu, self.min_mtu, MTU_LIMIT)
        for flag in ("stream", "write_delay", "ack_nodelay"):
            _check_type(flag, getattr(self, flag), bool)
        _check_int("rate_limit", self.rate_limit, 0, 1 << 40)
        _check_int("dscp", self.dscp, 0, 63, optional=True)
        _check_int("read_buffer", self.read_buffer, 0, 1 << 30)
        _check_int("write_buffer", self.write_buffer, 0, 1 << 30)
        _check_int("accept_backlog", self.accept_backlog, 1, 1 << 20)
        _check_int("max_sessions", self.max_sessions, 1, 1 << 24)
        for name in ("keepalive", "idle_timeout", "dead_link_timeout"):
            _check_seconds(name, getattr(self, name), optional=True)
        _check_seconds("establish_timeout", self.establish_timeout)

    def _check_crypto(self) -> None:
        key = self.key
        if key is not None and not isinstance(key, str):
            # Only text (a kcptun password) or bytes-like keys: anything else, an int above
            # all, used to reach bytes(key) and become an all-zero key of that length.
            if not isinstance(key, bytes | bytearray | memoryview):
                raise ConfigTypeError(f"key must be str or bytes-like, got {type(key).__name__}")
            object.__setattr__(self, "key", bytes(key))
        crypt = self.crypt
        if crypt is None or isinstance(crypt, BlockCrypt | AEADCrypt):
            return
        if not isinstance(crypt, str):
            raise ConfigTypeError(
                "crypt must be a cipher name, a BlockCrypt or AEADCrypt, or None; "
                f"got {type(crypt).__name__}"
            )
        if crypt not in CIPHER_NAMES:
            raise ConfigError(f"unknown cipher {crypt!r}; choose one of {list(CIPHER_NAMES)}")
        if crypt != "null" and self.key is None:
            raise ConfigError(f"cipher {crypt!r} needs a key")
        if isinstance(self.key, bytes):
            # A raw key's length is checked here, not at the first dial. (A password always
            # derives 32 bytes, which every cipher accepts.)
            self.make_crypt()

    @property
    def crypto_overhead(self) -> int:
        """Bytes the crypto layer adds to each datagram (protocol.md §1.3)."""
        crypt = self.crypt
        if crypt is None or crypt == "null":
            return 0
        if crypt == "aes-128-gcm" or isinstance(crypt, AEADCrypt):
            return AEAD_NONCE_SIZE + AEAD_TAG_SIZE
        return CFB_HEADER_SIZE

    @property
    def header_size(self) -> int:
        """Bytes of crypto and FEC headers in every datagram besides its KCP segments."""
        return self.crypto_overhead + (FEC_OVERHEAD if self.fec_enabled else 0)

    @property
    def min_mtu(self) -> int:
        """The smallest MTU that leaves one byte for a KCP segment's payload."""
        return self.header_size + KCP_OVERHEAD + 1

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


def kcptun_fec(data_shards: int, parity_shards: int) -> tuple[int, int]:
    """kcptun's ``--datashard``/``--parityshard`` as Config fields: kcp-go runs FEC only when
    both are positive, so ``--parityshard 0`` means no FEC, not an error."""
    if data_shards > 0 and parity_shards > 0:
        return data_shards, parity_shards
    return 0, 0


def _check_type(name: str, value: object, kind: type) -> None:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigTypeError(f"{name} must be {kind.__name__}, got {type(value).__name__}")


def _check_int(name: str, value: object, low: int, high: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    _check_type(name, value, int)
    assert isinstance(value, int)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_seconds(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigTypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not 0 < value < 1e9:
        none = " or None" if optional else ""
        raise ConfigError(f"{name} must be a positive number of seconds{none}, got {value!r}")
