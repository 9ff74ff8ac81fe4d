# cython: language_level=3, boundscheck=False, wraparound=False
"""The C kernel of the Reed-Solomon code (compiled builds only; reedsolomon.py falls back to
pure Python without it). ``combine`` is the whole product of a coefficient matrix and a list
of shards in one call."""

from libc.stdint cimport uint8_t

cdef extern from "gf256.h":
    void pykcp_gf256_init()
    void pykcp_gf256_mul_add(uint8_t c, const uint8_t *src, uint8_t *dst, size_t n) nogil
    const char *pykcp_gf256_kind()

pykcp_gf256_init()

KIND = pykcp_gf256_kind().decode()
"""The instruction set the kernel uses here."""


def combine(const uint8_t[::1] matrix, shards, Py_ssize_t size):
    """``out[r] = sum_i matrix[r * len(shards) + i] * shards[i]`` in GF(2^8), each output
    *size* bytes; shards may be shorter than *size* (zero-padded)."""
    cdef Py_ssize_t inputs = len(shards)
    cdef Py_ssize_t rows = matrix.shape[0] // inputs if inputs else 0
    cdef Py_ssize_t r, i, n
    cdef const uint8_t[::1] shard
    cdef uint8_t[::1] dst
    cdef bytearray row
    cdef list out = []
    cdef list views = [memoryview(s).cast("B") for s in shards]
    for r in range(rows):
        row = bytearray(size)
        dst = row
        for i in range(inputs):
            shard = views[i]
            n = shard.shape[0]
            if n > size:
                n = size
            if n:
                pykcp_gf256_mul_add(matrix[r * inputs + i], &shard[0], &dst[0], n)
        out.append(row)
    return out
