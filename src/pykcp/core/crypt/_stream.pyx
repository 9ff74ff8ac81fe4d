# cython: language_level=3, boundscheck=False, wraparound=False
"""C forms of stream.py's per-datagram transforms, for compiled builds: Salsa20 (salsa20.c)
and the XOR pad. stream.py keeps the Python forms, which the tests compare these against."""

from libc.stdint cimport uint8_t, uint32_t

cdef extern from "salsa20.h":
    void pykcp_salsa20_setup(uint32_t state[16], const uint8_t key[32])
    void pykcp_salsa20_xor(const uint32_t state[16], const uint8_t nonce[8], uint8_t *data,
                           size_t size) nogil


cdef class Salsa20:
    """kcp-go's Salsa20 transform under one 32-byte key."""

    cdef uint32_t state[16]

    def __cinit__(self, bytes key not None):
        if len(key) != 32:
            raise ValueError("Salsa20 needs a 32-byte key")
        pykcp_salsa20_setup(self.state, key)

    def encrypt_into(self, uint8_t[::1] buf not None):
        """XOR bytes 8.. of *buf* with the keystream of the nonce in bytes 0..7."""
        if buf.shape[0] > 8:
            pykcp_salsa20_xor(self.state, &buf[0], &buf[8], buf.shape[0] - 8)


cdef class XorPad:
    """kcp-go's SimpleXOR transform: XOR with a fixed pad, bytes past the pad unchanged."""

    cdef bytes pad

    def __cinit__(self, bytes pad not None):
        self.pad = pad

    def encrypt_into(self, uint8_t[::1] buf not None):
        """XOR the first ``min(len(buf), len(pad))`` bytes of *buf* with the pad."""
        cdef const uint8_t *pad = self.pad
        cdef Py_ssize_t n = min(buf.shape[0], len(self.pad))
        cdef Py_ssize_t i
        for i in range(n):
            buf[i] ^= pad[i]
