"""xtaci/smux v1 and v2 stream multiplexing over any asyncio byte stream.

``frame`` holds the wire format (frames, window updates), the configuration and the errors,
with no asyncio; ``session`` runs a :class:`MuxSession` and its streams on a loop.
"""

from pykcp.smux import frame, session
from pykcp.smux.frame import *  # noqa: F403 - the package re-exports both modules' __all__
from pykcp.smux.session import *  # noqa: F403

__all__ = [*frame.__all__, *session.__all__]
