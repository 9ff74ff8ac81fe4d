/* See salsa20.h. Four blocks at a time with SSE2 (baseline on x86-64: word i of four
 * consecutive blocks in one register, so the rounds run on four blocks at once), one at a
 * time otherwise and for the tail. */
#include "salsa20.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static uint32_t load(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
/* One quarter of a round: b ^= (a + d) <<< 7, c ^= (b + a) <<< 9, ... */
#define QUARTER(a, b, c, d, OP)   \
    b ^= OP(a + d, 7);            \
    c ^= OP(b + a, 9);            \
    d ^= OP(c + b, 13);           \
    a ^= OP(d + c, 18);
#define DOUBLE_ROUND(x, OP)                  \
    QUARTER(x[0], x[4], x[8], x[12], OP)     \
    QUARTER(x[5], x[9], x[13], x[1], OP)     \
    QUARTER(x[10], x[14], x[2], x[6], OP)    \
    QUARTER(x[15], x[3], x[7], x[11], OP)    \
    QUARTER(x[0], x[1], x[2], x[3], OP)      \
    QUARTER(x[5], x[6], x[7], x[4], OP)      \
    QUARTER(x[10], x[11], x[8], x[9], OP)    \
    QUARTER(x[15], x[12], x[13], x[14], OP)

void pykcp_salsa20_setup(uint32_t state[16], const uint8_t key[32]) {
    memset(state, 0, 16 * sizeof(uint32_t));
    state[0] = 0x61707865u; /* "expand 32-byte k" on the diagonal */
    state[5] = 0x3320646Eu;
    state[10] = 0x79622D32u;
    state[15] = 0x6B206574u;
    for (int i = 0; i < 4; i++) {
        state[1 + i] = load(key + 4 * i);
        state[11 + i] = load(key + 16 + 4 * i);
    }
}

static void one_block(const uint32_t in[16], uint8_t out[64]) {
    uint32_t x[16];
    memcpy(x, in, sizeof(x));
    for (int i = 0; i < 10; i++) {
        DOUBLE_ROUND(x, ROTL)
    }
    for (int i = 0; i < 16; i++) {
        uint32_t word = x[i] + in[i];
        out[4 * i] = (uint8_t)word;
        out[4 * i + 1] = (uint8_t)(word >> 8);
        out[4 * i + 2] = (uint8_t)(word >> 16);
        out[4 * i + 3] = (uint8_t)(word >> 24);
    }
}

#if defined(__SSE2__)
#define VROTL(x, n) _mm_or_si128(_mm_slli_epi32(x, n), _mm_srli_epi32(x, 32 - (n)))
#define VADD(a, b) _mm_add_epi32(a, b)

/* Four blocks (counter, counter + 1, ... within the low word) XORed into data[0:256]. */
static void four_blocks(const uint32_t in[16], uint8_t *data) {
    __m128i start[16], x[16];
    for (int i = 0; i < 16; i++) start[i] = _mm_set1_epi32((int)in[i]);
    start[8] = _mm_add_epi32(start[8], _mm_set_epi32(3, 2, 1, 0));
    memcpy(x, start, sizeof(x));
    for (int i = 0; i < 10; i++) {
        /* The scalar rounds with vector operations: a + d becomes VADD(a, d). */
#define VQ(a, b, c, d)                            \
    b = _mm_xor_si128(b, VROTL(VADD(a, d), 7));   \
    c = _mm_xor_si128(c, VROTL(VADD(b, a), 9));   \
    d = _mm_xor_si128(d, VROTL(VADD(c, b), 13));  \
    a = _mm_xor_si128(a, VROTL(VADD(d, c), 18));
        VQ(x[0], x[4], x[8], x[12])
        VQ(x[5], x[9], x[13], x[1])
        VQ(x[10], x[14], x[2], x[6])
        VQ(x[15], x[3], x[7], x[11])
        VQ(x[0], x[1], x[2], x[3])
        VQ(x[5], x[6], x[7], x[4])
        VQ(x[10], x[11], x[8], x[9])
        VQ(x[15], x[12], x[13], x[14])
#undef VQ
    }
    uint32_t words[16][4];
    for (int i = 0; i < 16; i++) _mm_storeu_si128((__m128i *)words[i], VADD(x[i], start[i]));
    for (int b = 0; b < 4; b++) {
        uint8_t *out = data + 64 * b;
        for (int i = 0; i < 16; i++) {
            uint32_t word = words[i][b];
            out[4 * i] ^= (uint8_t)word;
            out[4 * i + 1] ^= (uint8_t)(word >> 8);
            out[4 * i + 2] ^= (uint8_t)(word >> 16);
            out[4 * i + 3] ^= (uint8_t)(word >> 24);
        }
    }
}
#endif

void pykcp_salsa20_xor(const uint32_t state[16], const uint8_t nonce[8], uint8_t *data,
                       size_t size) {
    uint32_t in[16];
    uint8_t stream[64];
    uint64_t counter = 0;
    memcpy(in, state, sizeof(in));
    in[6] = load(nonce);
    in[7] = load(nonce + 4);
#if defined(__SSE2__)
    /* (The low counter word cannot wrap inside four blocks: a datagram is < 2^38 bytes.) */
    while (size >= 256 && (uint32_t)counter <= 0xFFFFFFFCu) {
        in[8] = (uint32_t)counter;
        in[9] = (uint32_t)(counter >> 32);
        four_blocks(in, data);
        counter += 4;
        data += 256;
        size -= 256;
    }
#endif
    while (size) {
        in[8] = (uint32_t)counter;
        in[9] = (uint32_t)(counter >> 32);
        one_block(in, stream);
        size_t n = size < 64 ? size : 64;
        for (size_t i = 0; i < n; i++) data[i] ^= stream[i];
        counter++;
        data += n;
        size -= n;
    }
}
