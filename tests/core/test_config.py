"""pykcp.Config: presets, defaults, validation, cipher construction."""

from __future__ import annotations

import dataclasses

import pytest

from pykcp import Config, ConfigError
from pykcp.core.config import PRESETS
from tests.helpers import KCPTUN_TIMINGS


def test_defaults_are_kcp_go_defaults() -> None:
    config = Config()
    assert config.timing() == (0, 100, 0, 0)
    assert (config.sndwnd, config.rcvwnd, config.mtu) == (32, 32, 1400)
    assert not config.fec_enabled
    assert config.make_crypt() is None
    assert config.read_buffer == config.write_buffer == 4 * 1024 * 1024
    assert config.accept_backlog == 128


@pytest.mark.parametrize(("mode", "timing"), KCPTUN_TIMINGS)
def test_kcptun_presets(mode: str, timing: tuple[int, int, int, int]) -> None:
    assert PRESETS[mode] == timing
    assert Config.preset(mode).timing() == timing
    assert Config(mode=mode).timing() == timing


def test_explicit_values_override_the_preset() -> None:
    config = Config.preset("fast2", interval=15, sndwnd=1024)
    assert config.timing() == (1, 15, 2, 1)
    assert config.sndwnd == 1024
    assert config.replace(mode="normal").timing() == (0, 15, 2, 1)


def test_fec_needs_both_shard_counts() -> None:
    assert Config(data_shards=10, parity_shards=3).fec_enabled
    assert not Config().fec_enabled
    # One without the other used to turn FEC off without a word.
    for shards in ((10, 0), (0, 3)):
        with pytest.raises(ConfigError, match="both"):
            Config(data_shards=shards[0], parity_shards=shards[1])


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "turbo"},
        {"mtu": 1501},
        {"mtu": 24},
        {"sndwnd": 0},
        {"rcvwnd": 70000},
        {"interval": 0},
        {"nodelay": 5},
        {"data_shards": 200, "parity_shards": 100},
        {"data_shards": -1},
        {"dscp": 64},
        {"idle_timeout": 0},
        {"dead_link_timeout": -1.0},
        {"crypt": "rot13", "key": "k"},
        {"crypt": "aes"},
        {"mtu": True},
        {"accept_backlog": 0},
    ],
)
def test_invalid_values_raise_config_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Config(**options)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Config(mtu=10)


def test_password_is_derived_like_kcptun_and_bytes_key_used_as_is() -> None:
    from pykcp.core.crypt import AESBlockCrypt, derive_key, new_crypt

    by_password = Config(crypt="aes", key="it's a secrect").make_crypt()
    assert isinstance(by_password, AESBlockCrypt)
    expected = new_crypt("aes", derive_key("it's a secrect"))
    assert expected is not None
    sample = bytes(range(40))
    assert by_password.encrypt(sample) == expected.encrypt(sample)
    raw = Config(crypt="aes", key=derive_key("it's a secrect")).make_crypt()
    assert raw is not None and raw.encrypt(sample) == expected.encrypt(sample)


def test_null_cipher_means_no_crypto_layer_and_objects_pass_through() -> None:
    from pykcp.core.crypt import new_crypt

    assert Config(crypt="null").make_crypt() is None
    cipher = new_crypt("salsa20", bytes(32))
    assert Config(crypt=cipher).make_crypt() is cipher


def test_config_is_immutable() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.mtu = 1200  # type: ignore[misc]


def test_password_is_derived_once_per_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each dial builds its session from the config: the PBKDF2 must not run every time."""
    import pykcp.core.config

    calls: list[object] = []
    real = pykcp.core.config.derive_key

    def counting(password: str | bytes) -> bytes:
        calls.append(password)
        return real(password)

    monkeypatch.setattr(pykcp.core.config, "derive_key", counting)
    config = Config(crypt="aes", key="it's a secrect")
    first = config.make_crypt()
    assert config.make_crypt() is first
    assert len(calls) == 1
    other = dataclasses.replace(config, key="another")
    assert other.make_crypt() is not first
    assert len(calls) == 2


@pytest.mark.parametrize("key", [32, 123456, 16.0, object(), ["k"]])
@pytest.mark.parametrize("crypt", ["aes", "aes-128", "salsa20", "tea", "xor", "aes-128-gcm"])
def test_a_key_that_is_not_text_or_bytes_is_a_type_error(crypt: str, key: object) -> None:
    # An int used to become bytes(key): an all-zero key that talks to a zero-key peer.
    with pytest.raises(TypeError, match="key must be str or bytes-like"):
        Config(crypt=crypt, key=key)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [b"k" * 16, bytearray(b"k" * 16), memoryview(b"k" * 16)])
def test_bytes_like_keys_are_accepted_and_frozen(key: bytes | bytearray | memoryview) -> None:
    config = Config(crypt="aes-128", key=key)
    assert config.key == b"k" * 16 and isinstance(config.key, bytes)
    if isinstance(key, bytearray):
        key[:] = bytes(16)  # a later change of the caller's buffer changes nothing
    assert config.make_crypt().encrypt(bytes(32)) == Config(  # type: ignore[union-attr]
        crypt="aes-128", key=b"k" * 16
    ).make_crypt().encrypt(bytes(32))  # type: ignore[union-attr]


@pytest.mark.parametrize(("crypt", "key"), [("aes", b"k" * 15), ("tea", b"k" * 8), ("3des", b"k")])
def test_a_raw_key_of_the_wrong_length_fails_at_construction(crypt: str, key: bytes) -> None:
    with pytest.raises(ConfigError, match="key"):
        Config(crypt=crypt, key=key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crypt", 42),
        ("crypt", b"aes"),
        ("crypt", object()),
        ("stream", "yes"),
        ("write_delay", 1),
        ("ack_nodelay", None),
        ("mtu", "1400"),
        ("mtu", 1400.0),
        ("sndwnd", True),
        ("mode", 2),
        ("idle_timeout", "60"),
        ("keepalive", True),
        ("rate_limit", 1.5),
        ("max_sessions", None),
    ],
)
def test_a_field_of_the_wrong_type_is_a_type_error_naming_it(field: str, value: object) -> None:
    """#12: Config(crypt=42) used to pass and leave a zombie session behind."""
    with pytest.raises(TypeError, match=field) as caught:
        Config(**{field: value})  # type: ignore[arg-type]
    assert isinstance(caught.value, ConfigError)  # also a ConfigError, for older callers


@pytest.mark.parametrize(
    ("options", "smallest"),
    [
        ({}, 25),
        ({"data_shards": 1, "parity_shards": 1}, 33),
        ({"crypt": "aes", "key": "k"}, 45),
        ({"crypt": "aes", "key": "k", "data_shards": 10, "parity_shards": 3}, 53),
        ({"crypt": "aes-128-gcm", "key": "k"}, 53),
        ({"crypt": "aes-128-gcm", "key": "k", "data_shards": 2, "parity_shards": 1}, 61),
        ({"crypt": "null", "key": "k"}, 25),
    ],
)
def test_the_mtu_must_leave_room_for_one_payload_byte(
    options: dict[str, object], smallest: int
) -> None:
    """Headers of the chosen crypto and FEC + a KCP header + one byte (protocol.md §1.3)."""
    assert Config(mtu=smallest, **options).min_mtu == smallest  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=f"mtu must be an integer in \\[{smallest}, 1500\\]"):
        Config(mtu=smallest - 1, **options)  # type: ignore[arg-type]


def test_mtu_50_with_aes_and_fec_fails_at_construction_not_at_dial() -> None:
    with pytest.raises(ConfigError, match="mtu"):
        Config(crypt="aes", key="k", data_shards=10, parity_shards=3, mtu=50)


def test_server_bounds_have_safe_defaults() -> None:
    config = Config()
    assert config.idle_timeout is not None and config.keepalive is not None
    assert config.keepalive < config.idle_timeout
    assert config.max_sessions == 4096 and config.accept_backlog == 128
