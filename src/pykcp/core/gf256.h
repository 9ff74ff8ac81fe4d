/* GF(2^8) arithmetic over byte buffers for pykcp's Reed-Solomon code (protocol.md §3.3).
 *
 * The field is klauspost/reedsolomon's: reduction polynomial 0x11D, generator 2. These are
 * the only loops Cython cannot make fast on its own (they want SIMD byte shuffles); the
 * coding itself (matrices, which shards to combine) stays in reedsolomon.py.
 */
#ifndef PYKCP_GF256_H
#define PYKCP_GF256_H

#include <stddef.h>
#include <stdint.h>

/* Build the tables and pick the widest instruction set this CPU has. Idempotent. */
void pykcp_gf256_init(void);

/* out[i] ^= c * in[i] for i < n. */
void pykcp_gf256_mul_add(uint8_t c, const uint8_t *in, uint8_t *out, size_t n);

/* Which loop mul_add uses: "avx2", "ssse3" or "scalar". */
const char *pykcp_gf256_kind(void);

#endif
