"""Today's kcptun settings (its 2025 releases): flag defaults, JSON config keys and how they
combine.

Field names are kcptun's JSON keys, so ``-c config.json`` maps one to one (one exception:
``qppcount`` is read from kcptun's key ``qpp-count``). As in kcptun, the JSON file is applied
after the command line and overrides it (keys match case-insensitively, unknown keys are
ignored, ``null`` leaves a value alone), and ``mode`` is applied last: any mode other than
normal/fast/fast2/fast3 (kcptun documents "manual") keeps the ``nodelay``, ``interval``,
``resend`` and ``nc`` values.

Where kcptun quietly works around a bad value, pykcp refuses it with a ConfigError: an unknown
``crypt`` (kcptun falls back to AES), a negative ``ratelimit`` (kcptun uses 0), a ``QPPCount``
outside a u16. docs/tunnel.md lists every difference from kcptun 20210922 and today's kcptun.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from pykcp.core.config import PRESETS, Config, kcptun_fec
from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, BlockCrypt, derive_key, new_crypt
from pykcp.core.errors import ConfigError
from pykcp.smux import SmuxConfig
from pykcp.tunnel.qpp import DEFAULT_PAD_COUNT, qpp_warnings

__all__ = [
    "KCPTUN_CIPHERS",
    "MAX_SMUX_VERSION",
    "ClientConfig",
    "ServerConfig",
    "env_key",
    "kcptun_cipher",
    "parse_address",
    "split_host_port",
]

logger = logging.getLogger("pykcp.tunnel")

MAX_SMUX_VERSION = 2
KCPTUN_CIPHERS = (
    "aes",
    "aes-128",
    "aes-128-gcm",
    "aes-192",
    "salsa20",
    "blowfish",
    "twofish",
    "cast5",
    "3des",
    "tea",
    "xtea",
    "xor",
    "sm4",
    "none",
    "null",
)
"""Today's kcptun cipher names, in the order its ``--help`` lists them. ``aes-128-gcm`` is the
AEAD mode (AES-GCM keyed with the first 16 bytes of the PBKDF2 output, protocol.md §2.5);
``null`` is no crypto layer at all. kcptun 20210922 knew neither and used AES for both."""
assert set(KCPTUN_CIPHERS) == set(CIPHER_NAMES), "pykcp.core.crypt and kcptun disagree"

DEFAULT_KEY = "it's a secrect"  # sic: kcptun's default, spelling included
MAX_RATE_LIMIT = 0xFFFFFFFF  # kcptun hands --ratelimit to SetRateLimit as a u32
# JSON keys that are not the field name (Go's encoding/json tag of kcptun's Config).
_JSON_KEYS = {"qppcount": "qpp-count"}


def kcptun_cipher(name: str) -> str:
    """*name* if it is one of today's kcptun cipher names; ConfigError listing them otherwise
    (kcptun itself falls back to AES, which hides a typo until nothing connects)."""
    if not isinstance(name, str) or name not in KCPTUN_CIPHERS:
        raise ConfigError(f"unknown crypt {name!r}; valid names: {', '.join(KCPTUN_CIPHERS)}")
    return name


def split_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``: ``":80"`` -> ``("", "80")``, ``"[::1]:80"`` ->
    ``("::1", "80")``; ConfigError where Go returns an error."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ConfigError(f"address {address}: missing port in address")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ConfigError(f"address {address}: missing ']' in address")
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"address {address}: too many colons in address")
    if "[" in host or "]" in host or "]" in port:
        raise ConfigError(f"address {address}: unexpected bracket in address")
    return host, port


def parse_address(address: str) -> tuple[str | None, int]:
    """``(host or None for all interfaces, port)`` of a ``host:port`` to listen on or dial."""
    host, port = split_host_port(address)
    low, dash, high = port.partition("-")
    if dash and low.isdigit() and high.isdigit():
        raise ConfigError(
            f"address {address}: port ranges (today's kcptun's IP:minport-maxport) are not"
            " supported by pykcp"
        )
    if not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"address {address}: invalid port {port!r}")
    return host or None, int(port)


@dataclass
class _Common:
    """Options shared by client and server (kcptun JSON keys)."""

    key: str = DEFAULT_KEY
    crypt: str = "aes"
    mode: str = "fast"
    mtu: int = 1350
    ratelimit: int = 0
    sndwnd: int = 0  # per side, see the subclasses
    rcvwnd: int = 0
    datashard: int = 10
    parityshard: int = 3
    dscp: int = 0
    nocomp: bool = False
    acknodelay: bool = False
    nodelay: int = 0
    interval: int = 50
    resend: int = 0
    nc: int = 0
    sockbuf: int = 4194304
    smuxver: int = 2  # 1 up to kcptun v20251118; a mismatch leaves the streams dead
    smuxbuf: int = 4194304
    framesize: int = 8192
    streambuf: int = 2097152
    keepalive: int = 10
    closewait: int = 0  # per side, see the subclasses
    log: str = ""
    snmplog: str = ""
    snmpperiod: int = 60
    quiet: bool = False
    tcp: bool = False
    pprof: bool = False
    qpp: bool = False
    qppcount: int = DEFAULT_PAD_COUNT

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def from_json_file(cls, path: str, base: Any = None) -> Any:
        """*base* (default: the defaults) overridden by the JSON file at *path*."""
        config = base if base is not None else cls()
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        config.update_from_json(data, source=path)
        return config

    def update_from_json(self, data: Any, *, source: str = "config") -> None:
        """Apply a decoded JSON object the way Go's encoding/json fills kcptun's struct."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object")
        fields = {_JSON_KEYS.get(f.name, f.name).lower(): f for f in dataclasses.fields(self)}
        for raw_key, value in data.items():
            field = fields.get(str(raw_key).lower())
            if field is None or value is None:
                continue
            expected = field.type if isinstance(field.type, str) else field.type.__name__
            ok = (
                isinstance(value, bool)
                if expected == "bool"
                else isinstance(value, int) and not isinstance(value, bool)
                if expected == "int"
                else isinstance(value, str)
            )
            if not ok:
                raise ConfigError(
                    f"{source}: {_JSON_KEYS.get(field.name, field.name)!r} must be a JSON "
                    f"{ {'bool': 'boolean', 'int': 'integer', 'str': 'string'}[expected] },"
                    f" got {json.dumps(value)}"
                )
            setattr(self, field.name, value)

    # -- derived values -----------------------------------------------------------------------

    def timing(self) -> tuple[int, int, int, int]:
        """(nodelay, interval, resend, nc) after kcptun's mode switch."""
        return PRESETS.get(self.mode, (self.nodelay, self.interval, self.resend, self.nc))

    @property
    def cipher(self) -> str:
        """The cipher name, checked (ConfigError for a name kcptun does not know)."""
        return kcptun_cipher(self.crypt)

    def validate(self) -> None:
        """Reject what kcptun would crash on, silently misread, or pykcp cannot do
        (ConfigError naming the setting)."""
        if self.tcp:
            raise ConfigError("--tcp (TCP emulation with tcpraw) is not supported by pykcp")
        if self.smuxver > MAX_SMUX_VERSION or self.smuxver < 1:
            raise ConfigError(f"unsupported smux version: {self.smuxver}")
        if self.snmpperiod < 0:
            raise ConfigError(f"snmpperiod must not be negative, got {self.snmpperiod}")
        if not 0 <= self.ratelimit <= MAX_RATE_LIMIT:
            raise ConfigError(
                f"ratelimit must be in [0, {MAX_RATE_LIMIT}] bytes per second (0: no limit),"
                f" got {self.ratelimit}"
            )
        if self.closewait < 0:
            raise ConfigError(f"closewait must not be negative, got {self.closewait}")
        if self.qpp:
            qpp_warnings(self.qppcount, self.key)
        kcptun_cipher(self.crypt)
        self.smux_config().verify()
        # pykcp.Config checks the MTU against this cipher's and FEC's headers.
        self.kcp_config()

    def make_crypt(self) -> BlockCrypt | AEADCrypt | None:
        """kcptun's packet cipher: PBKDF2 of the key, truncated per cipher (None for null)."""
        return new_crypt(self.cipher, derive_key(self.key))

    def kcp_config(self) -> Config:
        """Session options as kcptun sets them (stream mode, no write delay, its timing, its
        rate limit). The cipher is derived from the key by the Config on first use, once."""
        nodelay, interval, resend, nc = self.timing()
        data_shards, parity_shards = kcptun_fec(self.datashard, self.parityshard)
        return Config(
            crypt=self.cipher,
            key=self.key,
            data_shards=data_shards,
            parity_shards=parity_shards,
            nodelay=nodelay,
            interval=interval,
            resend=resend,
            nc=nc,
            sndwnd=self.sndwnd,
            rcvwnd=self.rcvwnd,
            mtu=self.mtu,
            stream=True,
            write_delay=False,
            ack_nodelay=self.acknodelay,
            rate_limit=self.ratelimit,
            dscp=self.dscp or None,
            read_buffer=self.sockbuf,
            write_buffer=self.sockbuf,
        )

    def smux_config(self) -> SmuxConfig:
        """smux.DefaultConfig() with kcptun's five overrides."""
        return SmuxConfig(
            version=self.smuxver,
            max_receive_buffer=self.smuxbuf,
            max_stream_buffer=self.streambuf,
            max_frame_size=self.framesize,
            keep_alive_interval=float(self.keepalive),
        )

    def describe(self) -> list[tuple[str, object]]:
        """The settings kcptun logs at start-up, in its order."""
        return [
            ("smux version", self.smuxver),
            ("encryption", self.cipher),
            ("QPP", str(self.qpp).lower()),
            ("QPP Count", self.qppcount),
            ("nodelay parameters", " ".join(map(str, self.timing()))),
            ("sndwnd", f"{self.sndwnd} rcvwnd: {self.rcvwnd}"),
            ("compression", str(not self.nocomp).lower()),
            ("mtu", self.mtu),
            ("ratelimit", self.ratelimit),
            ("datashard", f"{self.datashard} parityshard: {self.parityshard}"),
            ("acknodelay", str(self.acknodelay).lower()),
            ("dscp", self.dscp),
            ("sockbuf", self.sockbuf),
            ("smuxbuf", self.smuxbuf),
            ("framesize", self.framesize),
            ("streambuf", self.streambuf),
            ("keepalive", self.keepalive),
            ("closewait", self.closewait),
            ("snmplog", self.snmplog),
            ("snmpperiod", self.snmpperiod),
            ("quiet", str(self.quiet).lower()),
            ("pprof", str(self.pprof).lower()),
        ]


@dataclass
class ClientConfig(_Common):
    """``kcptun-client`` settings (defaults as in today's kcptun)."""

    localaddr: str = ":12948"
    remoteaddr: str = "vps:29900"
    conn: int = 1
    autoexpire: int = 0
    scavengettl: int = 600
    sndwnd: int = 128
    rcvwnd: int = 512

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.conn <= 65535:
            raise ConfigError(f"conn must be in [1, 65535], got {self.conn}")
        parse_address(self.localaddr)
        parse_address(self.remoteaddr)

    def describe(self) -> list[tuple[str, object]]:
        items = super().describe()
        items.insert(3, ("remote address", self.remoteaddr))
        items += [
            ("conn", self.conn),
            ("autoexpire", self.autoexpire),
            ("scavengettl", self.scavengettl),
        ]
        return items


@dataclass
class ServerConfig(_Common):
    """``kcptun-server`` settings (defaults as in today's kcptun)."""

    listen: str = ":29900"
    target: str = "127.0.0.1:12948"
    sndwnd: int = 1024
    rcvwnd: int = 1024
    closewait: int = 30

    def validate(self) -> None:
        super().validate()
        parse_address(self.listen)

    @property
    def target_is_unix(self) -> bool:
        """kcptun dials a Unix socket when the target is not ``host:port``."""
        try:
            split_host_port(self.target)
        except ConfigError:
            return True
        return False

    def describe(self) -> list[tuple[str, object]]:
        items = super().describe()
        items.insert(1, ("target", self.target))
        return items


def env_key() -> str:
    """The key default: ``$KCPTUN_KEY`` if set (as urfave/cli's EnvVar), else kcptun's."""
    return os.environ.get("KCPTUN_KEY", DEFAULT_KEY)
