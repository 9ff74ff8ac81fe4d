"""Reed-Solomon erasure code over GF(2^8), identical to klauspost/reedsolomon's default code.

kcp-go's FEC uses ``reedsolomon.New(dataShards, parityShards)``: field GF(2^8) with reduction
polynomial 0x11D, and the encoding matrix built from a Vandermonde matrix ``V[r][c] = r**c``
made systematic (``V x inverse(top k rows of V)``). Parity bytes must match it byte for byte,
so this module builds exactly that matrix (protocol.md §3.3).

Speed comes from C-backed builtins, without numpy. A shard is turned into one ``int``
(``int.from_bytes(..., "little")``), so adding shards is a single big-int XOR and zero padding
to a common length is free. A multiply-by-constant over a whole shard is either a
``bytes.translate`` with that constant's 256-byte product table, or, when many outputs share
the same inputs, a Horner scheme over the bits of the coefficients: every output is
``sum_b x^-(7-b) * S_b`` where ``S_b`` is the XOR of the inputs whose (pre-scaled) coefficient
has bit b set, and multiplying a whole shard by ``x^-1`` costs five big-int operations. The
XORs that build the ``S_b`` are shared between outputs by a greedy common-subexpression pass.
:class:`_Combiner` picks the cheaper of the two plans for each matrix.
"""

from __future__ import annotations

import contextlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial
from types import ModuleType
from typing import Final

from pykcp.core.errors import ConfigError

__all__ = [
    "MAX_TOTAL_SHARDS",
    "ReedSolomon",
    "encoding_matrix",
    "get_codec",
    "gf_div",
    "gf_inv",
    "gf_mul",
    "gf_pow",
]

MAX_TOTAL_SHARDS: Final = 256
"""klauspost switches to an incompatible GF(2^16) code above 256 shards; kcp-go refuses them."""

Buffer = bytes | bytearray | memoryview

_POLY: Final = 0x11D

_EXP: list[int] = [0] * 512
_LOG: list[int] = [0] * 256


def _build_tables() -> None:
    value = 1
    for i in range(255):
        _EXP[i] = value
        _LOG[value] = i
        value <<= 1
        if value & 0x100:
            value ^= _POLY
    # A doubled exp table saves the "mod 255" in gf_mul.
    for i in range(255, 512):
        _EXP[i] = _EXP[i - 255]


_build_tables()


def gf_mul(a: int, b: int) -> int:
    """Product of two field elements."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_inv(a: int) -> int:
    """Multiplicative inverse; ``ZeroDivisionError`` for 0."""
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return _EXP[(255 - _LOG[a]) % 255]


def gf_div(a: int, b: int) -> int:
    """``a / b``; ``ZeroDivisionError`` when b is 0."""
    return gf_mul(a, gf_inv(b))


def gf_pow(a: int, n: int) -> int:
    """``a ** n`` with klauspost's conventions (``x ** 0 == 1`` even for 0)."""
    if n == 0:
        return 1
    if a == 0:
        return 0
    return _EXP[(_LOG[a] * n) % 255]


_MUL_TABLES: list[bytes | None] = [None] * 256


def _mul_table(c: int) -> bytes:
    """The ``bytes.translate`` table that multiplies every byte by *c*."""
    table = _MUL_TABLES[c]
    if table is None:
        if c == 0:
            table = bytes(256)
        else:
            log_c = _LOG[c]
            table = bytes([0] + [_EXP[log_c + _LOG[x]] for x in range(1, 256)])
        _MUL_TABLES[c] = table
    return table


def _xor_bytes(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _invert(matrix: Sequence[Sequence[int]]) -> list[list[int]]:
    """Gauss-Jordan inverse of a square matrix; ``ValueError`` when it is singular.

    Rows are kept as bytes so that scaling a row is one translate and eliminating one is
    one translate plus one XOR: this keeps the 255x255 case well under a second.
    """
    size = len(matrix)
    rows = [
        bytes(row) + bytes(1 if j == i else 0 for j in range(size)) for i, row in enumerate(matrix)
    ]
    for col in range(size):
        pivot = next((r for r in range(col, size) if rows[r][col]), None)
        if pivot is None:
            raise ValueError("matrix is singular")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        pivot_row = rows[col]
        if pivot_row[col] != 1:
            pivot_row = pivot_row.translate(_mul_table(gf_inv(pivot_row[col])))
            rows[col] = pivot_row
        for r in range(size):
            factor = rows[r][col]
            if r != col and factor:
                rows[r] = _xor_bytes(rows[r], pivot_row.translate(_mul_table(factor)))
    return [list(row[size:]) for row in rows]


def encoding_matrix(data_shards: int, parity_shards: int) -> list[list[int]]:
    """klauspost's default ``(data+parity) x data`` matrix; the top rows are the identity."""
    total = data_shards + parity_shards
    vandermonde = [[gf_pow(r, c) for c in range(data_shards)] for r in range(total)]
    top_inverse = [bytes(row) for row in _invert(vandermonde[:data_shards])]
    matrix = [[1 if c == r else 0 for c in range(data_shards)] for r in range(data_shards)]
    for r in range(data_shards, total):
        acc = 0
        for c, coefficient in enumerate(vandermonde[r]):
            if coefficient:
                product = top_inverse[c].translate(_mul_table(coefficient))
                acc ^= int.from_bytes(product, "little")
        matrix.append(list(acc.to_bytes(data_shards, "little")))
    return matrix


# One bit per byte, long enough for any shard kcp-go can carry: `&` with a shorter int costs
# only the shorter length, so a single mask serves every shard size.
_LOW_BITS: Final = int.from_bytes(b"\x01" * 65536, "little")
_HALF_REDUCE: Final = _POLY >> 1  # x^-1 * (p + 1) for a p with bit 0 set: (p ^ 1 ^ 0x11D) >> 1
_SCALE: Final = 0x80  # x^7: the Horner sum below carries a factor x^-7 that this cancels

# Rough relative costs on 1500-byte shards (measured on CPython 3.11): used only to choose
# between the two plans, so they need not be precise.
_COST_FROM_BYTES: Final = 1.1
_COST_TRANSLATE_TERM: Final = 2.4
_COST_XOR: Final = 0.3
_COST_HALVE: Final = 1.6
_COST_TRANSLATE: Final = 1.0
_CSE_PAIR_BUDGET: Final = 60_000

_TRAILING_ZEROS: Final = bytes([8] + [(c & -c).bit_length() - 1 for c in range(1, 256)])
_POPCOUNT: Final = bytes(bin(c).count("1") for c in range(256))


def _row_scale(row: Sequence[int]) -> int:
    """The factor d to expand a Horner row in: row[i] * d.

    The Horner sum of row * d equals x^-7 * d * (row . shards), so any d works if the result
    is multiplied by x^7 / d (one translate, skipped for d = x^7). Scaled coefficients whose
    low bits are all zero need fewer halvings, and fewer set bits mean fewer XORs: a 10+3
    parity row drops from 7 halvings to 5 or 6.
    """
    coefficients = bytes(c for c in row if c)
    if not coefficients:
        return _SCALE
    best, best_cost = _SCALE, float("inf")
    for d in range(1, 256):
        scaled = coefficients.translate(_mul_table(d))
        halvings = 7 - min(scaled.translate(_TRAILING_ZEROS))
        bits = sum(scaled.translate(_POPCOUNT))
        cost = halvings * _COST_HALVE + bits * _COST_XOR / 2
        if d != _SCALE:
            cost += _COST_TRANSLATE
        if cost < best_cost or (cost == best_cost and d == _SCALE):
            best, best_cost = d, cost
    return best


def _common_xors(sets: list[set[int]], first_free: int) -> tuple[list[tuple[int, int]], list[int]]:
    """XOR program computing each set's XOR, sharing pairs used by several sets (Paar's greedy).

    Returns the operations (each appends ``vals[a] ^ vals[b]`` as the next value) and, per
    set, the index of its value (-1 for an empty set).
    """
    ops: list[tuple[int, int]] = []
    next_var = first_free
    if sum(len(s) * len(s) for s in sets) <= _CSE_PAIR_BUDGET:
        pairs: Counter[tuple[int, int]] = Counter()
        for members in sets:
            ordered = sorted(members)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    pairs[(a, b)] += 1
        while pairs:
            best, count = min(pairs.items(), key=lambda item: (-item[1], item[0]))
            if count < 2:
                break
            ops.append(best)
            a, b = best
            new = next_var
            next_var += 1
            for members in sets:
                if a in members and b in members:
                    members.discard(a)
                    members.discard(b)
                    for x in members:
                        for old in ((a, x) if a < x else (x, a), (b, x) if b < x else (x, b)):
                            pairs[old] -= 1
                            if not pairs[old]:
                                del pairs[old]
                        pairs[(x, new)] += 1
                    members.add(new)
            del pairs[best]
    results: list[int] = []
    for members in sets:
        ordered = sorted(members)
        if not ordered:
            results.append(-1)
            continue
        current = ordered[0]
        for other in ordered[1:]:
            ops.append((current, other))
            current = next_var
            next_var += 1
        results.append(current)
    return ops, results


_Kernel = Callable[[Sequence[bytes], int], list[bytes]]

_kernel: ModuleType | None
try:  # the compiled build's C kernel (PYKCP_NO_EXTENSIONS hides it)
    from pykcp.core import _gf256 as _kernel
except ImportError:
    _kernel = None

# Straight-line code beats a loop over an op list by ~15 us per 10+3 group; above this many
# lines compiling it costs more than it can save, so big matrices run the interpreted loop.
_MAX_GENERATED_LINES: Final = 3000


class _Combiner:
    """Computes ``out[r] = sum_i rows[r][i] * shards[i]`` for fixed coefficient rows.

    ``plan`` forces "kernel", "horner" or "translate" (tests). By default a compiled build
    uses the C kernel (:mod:`pykcp.core._gf256`); pure Python takes the cheaper of the two
    big-integer plans, compiled to a straight-line Python function (generated from the
    coefficient rows only, never from wire data).
    """

    __slots__ = (
        "_ops",
        "_row_terms",
        "_row_unscale",
        "_translate_rows",
        "apply",
        "inputs",
        "plan",
    )

    def __init__(self, rows: Sequence[Sequence[int]], plan: str | None = None) -> None:
        self.inputs = len(rows[0]) if rows else 0
        self.apply: _Kernel
        if plan == "kernel" or (plan is None and _kernel is not None):
            if _kernel is None:
                raise ValueError("the C kernel is not available in this build")
            self.plan = "kernel"
            matrix = bytes(c for row in rows for c in row)
            self.apply = partial(_kernel.combine, matrix)
            return
        translate_rows = [
            tuple((i, None if c == 1 else _mul_table(c)) for i, c in enumerate(row) if c)
            for row in rows
        ]
        translate_cost = sum(
            _COST_TRANSLATE_TERM if table is not None else _COST_FROM_BYTES + _COST_XOR
            for row in translate_rows
            for _, table in row
        )
        sets: list[set[int]] = []
        row_unscale: list[bytes | None] = []
        for row in rows:
            # The search costs ~1 ms per row: worth it for encoders, built once per code,
            # not for the one-row decoders a single loss needs (and a peer can vary).
            scale = _row_scale(row) if len(rows) > 1 else _SCALE
            row_unscale.append(None if scale == _SCALE else _mul_table(gf_div(_SCALE, scale)))
            scaled = [gf_mul(c, scale) for c in row]
            sets.extend({i for i, c in enumerate(scaled) if c >> bit & 1} for bit in range(8))
        used_inputs = len(set().union(*sets)) if sets else 0
        ops, results = _common_xors(sets, self.inputs)
        row_terms = [tuple(results[8 * r : 8 * r + 8]) for r in range(len(rows))]
        halvings = sum(
            7 - next(b for b, v in enumerate(terms) if v >= 0)
            for terms in row_terms
            if any(v >= 0 for v in terms)
        )
        horner_cost = (
            used_inputs * _COST_FROM_BYTES
            + len(ops) * _COST_XOR
            + halvings * _COST_HALVE
            + sum(t is not None for t in row_unscale) * _COST_TRANSLATE
        )
        if plan is None:
            plan = "horner" if horner_cost < translate_cost else "translate"
        elif plan not in ("horner", "translate"):  # (the kernel returned above)
            raise ValueError(f"unknown plan {plan!r}")
        self.plan = plan
        self._translate_rows = translate_rows
        self._ops = ops
        self._row_terms = row_terms
        self._row_unscale = row_unscale
        kernel = self._generate()
        if kernel is not None:
            self.apply = kernel
        elif plan == "horner":
            self.apply = self._apply_horner
        else:
            self.apply = self._apply_translate

    def _generate(self) -> _Kernel | None:
        """The plan as generated Python source, compiled; None when it would be too long."""
        namespace: dict[str, object] = {"fb": int.from_bytes, "M": _LOW_BITS}
        lines = ["def kernel(s, size):"]
        if self.plan == "translate":
            for r, row in enumerate(self._translate_rows):
                if not row:
                    lines.append(f"    r{r} = bytes(size)")
                    continue
                for k, (i, table) in enumerate(row):
                    if table is None:
                        term = f"fb(s[{i}], 'little')"
                    else:
                        name = f"T{r}_{k}"
                        namespace[name] = table
                        term = f"fb(s[{i}].translate({name}), 'little')"
                    lines.append(f"    a {'^=' if k else '='} {term}")
                lines.append(f"    r{r} = a.to_bytes(size, 'little')")
        else:
            used = sorted({v for terms in self._row_terms for v in terms if 0 <= v < self.inputs})
            used += sorted({v for op in self._ops for v in op if v < self.inputs})
            for i in dict.fromkeys(used):
                lines.append(f"    v{i} = fb(s[{i}], 'little')")
            next_var = self.inputs
            for a, b in self._ops:
                lines.append(f"    v{next_var} = v{a} ^ v{b}")
                next_var += 1
            for r, terms in enumerate(self._row_terms):
                present = [b for b, v in enumerate(terms) if v >= 0]
                if not present:
                    lines.append(f"    r{r} = bytes(size)")
                    continue
                lines.append(f"    a = v{terms[present[0]]}")
                for v in terms[present[0] + 1 :]:
                    # a * x^-1 on every byte: clear bit 0, shift, fold it back via 0x11D.
                    lines.append("    t = a & M")
                    extra = f" ^ v{v}" if v >= 0 else ""
                    lines.append(f"    a = ((a ^ t) >> 1) ^ (t * {_HALF_REDUCE}){extra}")
                unscale = self._row_unscale[r]
                if unscale is None:
                    lines.append(f"    r{r} = a.to_bytes(size, 'little')")
                else:
                    namespace[f"U{r}"] = unscale
                    lines.append(f"    r{r} = a.to_bytes(size, 'little').translate(U{r})")
        lines.append(f"    return [{', '.join(f'r{r}' for r in range(len(self._row_terms)))}]")
        if len(lines) > _MAX_GENERATED_LINES:
            return None
        exec(compile("\n".join(lines), "<pykcp.core.reedsolomon kernel>", "exec"), namespace)
        kernel = namespace["kernel"]
        assert callable(kernel)
        return kernel

    def _apply_translate(self, shards: Sequence[bytes], size: int) -> list[bytes]:
        from_bytes = int.from_bytes
        out = []
        for row in self._translate_rows:
            acc = 0
            for i, table in row:
                shard = shards[i]
                acc ^= from_bytes(shard if table is None else shard.translate(table), "little")
            out.append(acc.to_bytes(size, "little"))
        return out

    def _apply_horner(self, shards: Sequence[bytes], size: int) -> list[bytes]:
        from_bytes = int.from_bytes
        values = [from_bytes(shard, "little") for shard in shards]
        append = values.append
        for a, b in self._ops:
            append(values[a] ^ values[b])
        low_bits = _LOW_BITS
        result = []
        for terms, unscale in zip(self._row_terms, self._row_unscale, strict=True):
            acc = 0
            for v in terms:
                if acc:
                    odd = acc & low_bits
                    acc = ((acc ^ odd) >> 1) ^ (odd * _HALF_REDUCE)
                if v >= 0:
                    acc ^= values[v]
            out = acc.to_bytes(size, "little")
            result.append(out if unscale is None else out.translate(unscale))
        return result


_DECODE_CACHE_SIZE: Final = 64


class ReedSolomon:
    """A ``data_shards + parity_shards`` erasure code, byte-compatible with klauspost's default.

    Shards are bytes-like objects. Like klauspost, :meth:`encode`, :meth:`verify` and
    :meth:`reconstruct` require equal-length shards; :meth:`encode_padded` and
    :meth:`rebuild_data` take shards of any length and treat them as zero-padded (what kcp-go
    does before calling the codec).
    """

    __slots__ = (
        "_decoders",
        "_encoder",
        "data_shards",
        "matrix",
        "parity_shards",
        "total_shards",
    )

    def __init__(self, data_shards: int, parity_shards: int) -> None:
        if data_shards < 1 or parity_shards < 0:
            raise ConfigError(f"invalid shard counts {data_shards}+{parity_shards}")
        if data_shards + parity_shards > MAX_TOTAL_SHARDS:
            raise ConfigError(f"at most {MAX_TOTAL_SHARDS} shards in total")
        self.data_shards = data_shards
        self.parity_shards = parity_shards
        self.total_shards = data_shards + parity_shards
        self.matrix: tuple[tuple[int, ...], ...] = tuple(
            tuple(row) for row in encoding_matrix(data_shards, parity_shards)
        )
        self._encoder = _Combiner(self.matrix[data_shards:]) if parity_shards else None
        # Inverted sub-matrices by erasure pattern; bounded because a hostile peer can make
        # up patterns at will.
        self._decoders: OrderedDict[tuple[int, ...], _Combiner] = OrderedDict()

    def __repr__(self) -> str:
        return f"ReedSolomon({self.data_shards}, {self.parity_shards})"

    def encode_padded(self, data: Sequence[bytes], size: int) -> list[bytes]:
        """Parity shards (each *size* bytes) of data shards zero-padded to *size*."""
        if len(data) != self.data_shards:
            raise ValueError(f"expected {self.data_shards} data shards, got {len(data)}")
        if self._encoder is None:
            return []
        return self._encoder.apply(data, size)

    def encode(self, data: Sequence[Buffer]) -> list[bytes]:
        """Parity shards for equal-length data shards (klauspost ``Encode``)."""
        shards = [bytes(s) for s in data]
        size = _common_size(shards)
        return self.encode_padded(shards, size)

    def verify(self, shards: Sequence[Buffer]) -> bool:
        """True when the parity shards match the data shards."""
        if len(shards) != self.total_shards:
            raise ValueError(f"expected {self.total_shards} shards, got {len(shards)}")
        all_shards = [bytes(s) for s in shards]
        size = _common_size(all_shards)
        parity = self.encode_padded(all_shards[: self.data_shards], size)
        return parity == all_shards[self.data_shards :]

    def rebuild_data(self, present: Mapping[int, bytes], size: int) -> dict[int, bytes]:
        """The missing data shards (index -> *size* bytes) from ``present`` (index -> shard).

        Uses the first ``data_shards`` present indices, as klauspost's ``ReconstructData``.
        Present shards may be shorter than *size* (zero-padded). ``ValueError`` when fewer
        than ``data_shards`` shards are present.
        """
        k = self.data_shards
        missing = [i for i in range(k) if i not in present]
        if not missing:
            return {}
        chosen = tuple(sorted(i for i in present if 0 <= i < self.total_shards)[:k])
        if len(chosen) < k:
            raise ValueError(f"need {k} shards, have {len(chosen)}")
        combiner = self._decoder(chosen, tuple(missing))
        rebuilt = combiner.apply([present[i] for i in chosen], size)
        return dict(zip(missing, rebuilt, strict=True))

    def reconstruct(
        self, shards: Sequence[Buffer | None], *, data_only: bool = False
    ) -> list[bytes]:
        """Every shard, missing ones (``None`` or empty) rebuilt (klauspost ``Reconstruct``).

        With ``data_only`` the missing parity shards stay empty (``ReconstructData``).
        ``ValueError`` when too few shards are present or their lengths differ.
        """
        if len(shards) != self.total_shards:
            raise ValueError(f"expected {self.total_shards} shards, got {len(shards)}")
        present = {i: bytes(s) for i, s in enumerate(shards) if s is not None and len(s)}
        size = _common_size(list(present.values()))
        out = [present.get(i, b"") for i in range(self.total_shards)]
        for i, shard in self.rebuild_data(present, size).items():
            out[i] = shard
        if not data_only and len(present) < self.total_shards:
            parity = self.encode_padded(out[: self.data_shards], size)
            for p, shard in enumerate(parity):
                index = self.data_shards + p
                if index not in present:
                    out[index] = shard
        return out

    def _decoder(self, chosen: tuple[int, ...], missing: tuple[int, ...]) -> _Combiner:
        cache = self._decoders
        # Codecs are shared (get_codec) by sessions that may live in different threads. Each
        # dict operation below is atomic, and losing a race only costs a cache entry: another
        # thread may evict the entry between get() and move_to_end(), or two threads may
        # build the same combiner.
        combiner = cache.get(chosen)
        if combiner is not None:
            with contextlib.suppress(KeyError):
                cache.move_to_end(chosen)
            return combiner
        inverse = _invert([self.matrix[i] for i in chosen])
        combiner = _Combiner([inverse[i] for i in missing])
        cache[chosen] = combiner
        while len(cache) > _DECODE_CACHE_SIZE:
            with contextlib.suppress(KeyError):
                cache.popitem(last=False)
        return combiner


def _common_size(shards: Sequence[bytes]) -> int:
    if not shards:
        raise ValueError("no shards")
    size = len(shards[0])
    if any(len(s) != size for s in shards):
        raise ValueError("shards differ in length")
    return size


@lru_cache(maxsize=16)
def get_codec(data_shards: int, parity_shards: int) -> ReedSolomon:
    """A shared :class:`ReedSolomon` for these counts (building one inverts a matrix)."""
    return ReedSolomon(data_shards, parity_shards)
