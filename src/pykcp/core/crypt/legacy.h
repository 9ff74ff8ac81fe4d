/* The block functions of kcp-go's legacy ciphers (TEA, XTEA, Twofish) and the CFB mode kcp-go
 * runs them in (protocol.md §2.3), for the compiled build. pure.py holds the same ciphers in
 * Python and stays the reference: it computes the key schedules and hands them over, so this
 * file only runs blocks. */
#ifndef PYKCP_LEGACY_H
#define PYKCP_LEGACY_H

#include <stddef.h>
#include <stdint.h>

enum { PYKCP_TEA = 1, PYKCP_XTEA = 2, PYKCP_TWOFISH = 3 };

typedef struct {
    int kind;
    size_t block;        /* 8 or 16 bytes */
    uint8_t iv[16];      /* kcp-go's fixed IV, the first `block` bytes used */
    uint32_t key[4];     /* TEA: the key words */
    uint32_t rounds[64]; /* XTEA: sum + k[...] for each half-round */
    uint32_t sub[40];    /* Twofish: whitening and round subkeys */
    uint32_t sbox[4][256]; /* Twofish: key-dependent S-boxes folded with the MDS columns */
} pykcp_legacy_t;

/* CFB with segment = block size over the whole buffer, in place (kcp-go's Encrypt/Decrypt). */
void pykcp_legacy_encrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size);
void pykcp_legacy_decrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size);

#endif
