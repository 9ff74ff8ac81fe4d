/* Salsa20/20 as kcp-go uses it (protocol.md §2.4), for the compiled build: written from
 * Bernstein's specification. stream.py goes through pycryptodome without it. */
#ifndef PYKCP_SALSA20_H
#define PYKCP_SALSA20_H

#include <stddef.h>
#include <stdint.h>

/* The state of a 32-byte key: constants and key words, nonce and counter left zero. */
void pykcp_salsa20_setup(uint32_t state[16], const uint8_t key[32]);

/* XOR data[0:size] with the keystream of *nonce* from block 0. */
void pykcp_salsa20_xor(const uint32_t state[16], const uint8_t nonce[8], uint8_t *data,
                       size_t size);

#endif
