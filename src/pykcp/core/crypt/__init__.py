"""Packet ciphers, bit-exact with kcp-go's ``BlockCrypt`` family, plus AES-GCM (protocol.md §2).

``base`` holds the interface, ``openssl`` the ciphers OpenSSL runs, ``stream`` the stream
transforms, ``pure`` the ciphers written here in Python, ``factory`` kcptun's names.
"""

from pykcp.core.crypt import base, factory, openssl, pure, stream
from pykcp.core.crypt.base import *  # noqa: F403 - the package re-exports every module's __all__
from pykcp.core.crypt.factory import *  # noqa: F403
from pykcp.core.crypt.openssl import *  # noqa: F403
from pykcp.core.crypt.pure import *  # noqa: F403
from pykcp.core.crypt.stream import *  # noqa: F403

__all__ = [*base.__all__, *factory.__all__, *openssl.__all__, *pure.__all__, *stream.__all__]
