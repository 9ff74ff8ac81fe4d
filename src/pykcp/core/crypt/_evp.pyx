# cython: language_level=3, boundscheck=False, wraparound=False
"""kcp-go's CFB over AES through OpenSSL's EVP interface, called from C (compiled builds
with OpenSSL's headers only; openssl.py does the same through ``cryptography`` without it).

The per-datagram work is the same as openssl.py's: one context per direction kept across
datagrams, left on a block boundary after every call (protocol.md §2.7); what this saves is
the Python around each call. Every call holds the GIL, so one context per direction serves
every thread.
"""

from libc.string cimport memset

cdef extern from "openssl/evp.h":
    ctypedef struct EVP_CIPHER
    ctypedef struct EVP_CIPHER_CTX
    ctypedef struct ENGINE
    EVP_CIPHER_CTX *EVP_CIPHER_CTX_new()
    void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx)
    const EVP_CIPHER *EVP_aes_128_cfb128()
    const EVP_CIPHER *EVP_aes_192_cfb128()
    const EVP_CIPHER *EVP_aes_256_cfb128()
    int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
                           const unsigned char *key, const unsigned char *iv)
    int EVP_DecryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
                           const unsigned char *key, const unsigned char *iv)
    int EVP_EncryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
                          const unsigned char *inp, int inl)
    int EVP_DecryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
                          const unsigned char *inp, int inl)

cdef enum:
    BLOCK = 16


cdef class AESCFB:
    """The two contexts of one AES key: nonced encryption and decryption (openssl.py's
    ``encrypt_nonced_into`` and ``decrypt_into``)."""

    cdef EVP_CIPHER_CTX *encryptor
    cdef EVP_CIPHER_CTX *decryptor
    cdef unsigned char iv[BLOCK]

    def __cinit__(self, bytes key not None, bytes iv not None):
        cdef const EVP_CIPHER *cipher
        if len(iv) != BLOCK:
            raise ValueError("the IV must be 16 bytes")
        if len(key) == 16:
            cipher = EVP_aes_128_cfb128()
        elif len(key) == 24:
            cipher = EVP_aes_192_cfb128()
        elif len(key) == 32:
            cipher = EVP_aes_256_cfb128()
        else:
            raise ValueError("AES needs a key of 16, 24 or 32 bytes")
        for i in range(BLOCK):
            self.iv[i] = iv[i]
        self.encryptor = EVP_CIPHER_CTX_new()
        self.decryptor = EVP_CIPHER_CTX_new()
        if self.encryptor == NULL or self.decryptor == NULL:
            raise MemoryError()
        if (EVP_EncryptInit_ex(self.encryptor, cipher, NULL, key, self.iv) != 1
                or EVP_DecryptInit_ex(self.decryptor, cipher, NULL, key, self.iv) != 1):
            raise RuntimeError("OpenSSL could not set up AES-CFB")

    def __dealloc__(self):
        EVP_CIPHER_CTX_free(self.encryptor)
        EVP_CIPHER_CTX_free(self.decryptor)

    def encrypt_nonced_into(self, unsigned char[::1] buf not None):
        cdef int size = <int>buf.shape[0], written
        cdef unsigned char pad[BLOCK]
        if size == 0:
            return
        if EVP_EncryptUpdate(self.encryptor, &buf[0], &written, &buf[0], size) != 1:
            raise RuntimeError("AES-CFB encryption failed")
        if size % BLOCK:
            # Only block boundaries are valid starting points for the next datagram.
            memset(pad, 0, BLOCK)
            EVP_EncryptUpdate(self.encryptor, pad, &written, pad, BLOCK - size % BLOCK)

    def decrypt_into(self, unsigned char[::1] buf not None):
        cdef int size = <int>buf.shape[0], written, rest
        cdef unsigned char tail[2 * BLOCK]
        if size == 0:
            return
        if EVP_DecryptUpdate(self.decryptor, &buf[0], &written, &buf[0], size) != 1:
            raise RuntimeError("AES-CFB decryption failed")
        # Zero padding to the block boundary, then the IV as a ciphertext block: the next
        # keystream block is E(IV) again, where the next datagram starts.
        rest = -size % BLOCK
        memset(tail, 0, rest)
        for i in range(BLOCK):
            tail[rest + i] = self.iv[i]
        EVP_DecryptUpdate(self.decryptor, tail, &written, tail, rest + BLOCK)
