"""A kcptun-compatible TCP tunnel over pykcp (KCP + optional snappy compression + smux).

``TunnelClient`` listens on TCP and carries each connection as an smux stream over KCP to a
``TunnelServer`` (or a ``kcptun-server``), which connects it to the target. Both ends take
today's kcptun flags and defaults (v20251205 and later: smux version 2, ``aes-128-gcm`` and
``null`` ciphers, ``--QPP``, ``--ratelimit``, ``--closewait``; see :mod:`pykcp.tunnel.cli`)
and talk to kcptun 20210922 with ``--smuxver 1`` (docs/tunnel.md).
"""

from pykcp.tunnel.client import TunnelClient
from pykcp.tunnel.config import ClientConfig, ServerConfig
from pykcp.tunnel.server import TunnelServer

__all__ = ["ClientConfig", "ServerConfig", "TunnelClient", "TunnelServer"]
