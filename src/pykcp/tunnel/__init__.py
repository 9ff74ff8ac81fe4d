"""A kcptun-compatible TCP tunnel over pykcp (KCP + optional snappy compression + smux).

``TunnelClient`` listens on TCP and carries each connection as an smux stream over KCP to a
``TunnelServer`` (or Debian's ``kcptun-server``), which connects it to the target. Both ends
speak kcptun 20210922's wire protocol and take its flags (see :mod:`pykcp.tunnel.cli`).
"""

from pykcp.tunnel.client import TunnelClient
from pykcp.tunnel.config import ClientConfig, ServerConfig
from pykcp.tunnel.server import TunnelServer

__all__ = ["ClientConfig", "ServerConfig", "TunnelClient", "TunnelServer"]
