# cython: language_level=3, boundscheck=False, wraparound=False
"""The C kernel of kcp-go's legacy ciphers (compiled builds only; pure.py runs them in Python
without it). pure.py computes each key schedule and passes it in; :class:`CFB` runs blocks."""

from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy, memset

cdef extern from "legacy.h":
    enum:
        PYKCP_TEA
        PYKCP_XTEA
        PYKCP_TWOFISH
    ctypedef struct pykcp_legacy_t:
        int kind
        size_t block
        uint8_t iv[16]
        uint32_t key[4]
        uint32_t rounds[64]
        uint32_t sub[40]
        uint32_t sbox[4][256]
    void pykcp_legacy_encrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size) nogil
    void pykcp_legacy_decrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size) nogil

_KINDS = {"tea": (PYKCP_TEA, 8), "xtea": (PYKCP_XTEA, 8), "twofish": (PYKCP_TWOFISH, 16)}


cdef class CFB:
    """kcp-go's CFB over one legacy cipher. *words* is the key schedule pure.py computed:
    TEA's 4 key words, XTEA's 64 half-round constants, or Twofish's 40 subkeys followed by
    its four 256-entry S-box columns."""

    cdef pykcp_legacy_t ctx

    def __cinit__(self, str kind, bytes iv, words):
        cdef Py_ssize_t i, count
        cdef uint32_t *target
        memset(&self.ctx, 0, sizeof(self.ctx))
        self.ctx.kind, self.ctx.block = _KINDS[kind]
        if len(iv) != <Py_ssize_t>self.ctx.block:
            raise ValueError("IV of the wrong size")
        memcpy(self.ctx.iv, <const char *>iv, self.ctx.block)
        if self.ctx.kind == PYKCP_TEA:
            target, count = self.ctx.key, 4
        elif self.ctx.kind == PYKCP_XTEA:
            target, count = self.ctx.rounds, 64
        else:
            target, count = self.ctx.sub, 40 + 4 * 256
        if len(words) != count:
            raise ValueError(f"{kind} needs {count} schedule words")
        for i in range(count):
            if i < 40 or self.ctx.kind != PYKCP_TWOFISH:
                target[i] = words[i]
            else:
                self.ctx.sbox[(i - 40) // 256][(i - 40) % 256] = words[i]

    def encrypt_into(self, uint8_t[::1] buf not None):
        if buf.shape[0]:
            pykcp_legacy_encrypt(&self.ctx, &buf[0], buf.shape[0])

    def decrypt_into(self, uint8_t[::1] buf not None):
        if buf.shape[0]:
            pykcp_legacy_decrypt(&self.ctx, &buf[0], buf.shape[0])
