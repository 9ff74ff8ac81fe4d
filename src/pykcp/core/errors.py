"""Exception hierarchy.

Every pykcp error derives from :class:`KCPError`, and each also derives from the builtin a
caller would naturally catch, so ``except TimeoutError`` or ``except ConnectionError`` works
without importing pykcp.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "KCPError",
    "KCPTimeoutError",
    "PeerGoneError",
    "SessionClosedError",
]


class KCPError(Exception):
    """Base class of every error raised by pykcp."""


class ConfigError(KCPError, ValueError):
    """An option or argument is out of range or inconsistent."""


class ConfigTypeError(ConfigError, TypeError):
    """An option has the wrong type (also a ``TypeError``)."""


class KCPTimeoutError(KCPError, TimeoutError):
    """A deadline or timeout passed before the operation could complete."""


class SessionClosedError(KCPError, ConnectionError):
    """The session or listener was closed (kcp-go's io.ErrClosedPipe)."""


class PeerGoneError(KCPError, ConnectionError):
    """The peer stopped answering: dead link or idle timeout."""
