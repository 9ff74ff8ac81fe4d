/* CRC-32 (IEEE). Where the CPU multiplies carry-less (PCLMULQDQ), the buffer is folded 64
 * bytes at a time (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ"):
 * a fraction of an instruction per byte. Otherwise, and for the last bytes, slicing by 8:
 * eight 256-entry tables fold eight bytes per step. The tables are built on first use from
 * the reflected polynomial 0xEDB88320. */
#include "crc32.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PYKCP_CLMUL 1
#endif

static uint32_t table[8][256];
static int ready = 0;

static void build(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int t = 1; t < 8; t++) {
            c = table[0][c & 0xFF] ^ (c >> 8);
            table[t][n] = c;
        }
    }
    ready = 1;
}

static uint32_t slice8(uint32_t crc, const uint8_t *data, size_t size) {
    while (size >= 8) {
        uint32_t low, high;
        memcpy(&low, data, 4);  /* little-endian hosts: the byte order the tables assume */
        memcpy(&high, data + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        low = __builtin_bswap32(low);
        high = __builtin_bswap32(high);
#endif
        low ^= crc;
        crc = table[7][low & 0xFF] ^ table[6][(low >> 8) & 0xFF] ^ table[5][(low >> 16) & 0xFF] ^
              table[4][low >> 24] ^ table[3][high & 0xFF] ^ table[2][(high >> 8) & 0xFF] ^
              table[1][(high >> 16) & 0xFF] ^ table[0][high >> 24];
        data += 8;
        size -= 8;
    }
    while (size--) crc = table[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#ifdef PYKCP_CLMUL
static int clmul = -1;

/* Folds size bytes (a multiple of 16, at least 64) into the running crc. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t fold(uint32_t crc, const uint8_t *data, size_t size) {
    const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
    const __m128i poly_mu = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x1 = _mm_loadu_si128((const __m128i *)data);
    __m128i x2 = _mm_loadu_si128((const __m128i *)(data + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(data + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(data + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    data += 64;
    size -= 64;
    while (size >= 64) {
        __m128i h1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        __m128i h2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        __m128i h3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        __m128i h4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k1k2, 0x00), h1);
        x2 = _mm_xor_si128(_mm_clmulepi64_si128(x2, k1k2, 0x00), h2);
        x3 = _mm_xor_si128(_mm_clmulepi64_si128(x3, k1k2, 0x00), h3);
        x4 = _mm_xor_si128(_mm_clmulepi64_si128(x4, k1k2, 0x00), h4);
        x1 = _mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)data));
        x2 = _mm_xor_si128(x2, _mm_loadu_si128((const __m128i *)(data + 16)));
        x3 = _mm_xor_si128(x3, _mm_loadu_si128((const __m128i *)(data + 32)));
        x4 = _mm_xor_si128(x4, _mm_loadu_si128((const __m128i *)(data + 48)));
        data += 64;
        size -= 64;
    }
    /* Four lanes into one, then the remaining 16-byte blocks. */
    __m128i lanes[3] = {x2, x3, x4};
    for (int i = 0; i < 3; i++) {
        __m128i h = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x00), h), lanes[i]);
    }
    while (size >= 16) {
        __m128i h = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x00), h);
        x1 = _mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)data));
        data += 16;
        size -= 16;
    }
    /* 128 -> 64 bits (adding 32 zero bits), -> 32 bits, then Barrett reduction. */
    __m128i t = _mm_clmulepi64_si128(k3k4, x1, 0x01);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00);
    x1 = _mm_xor_si128(x1, t);
    t = x1;
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly_mu, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly_mu, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

uint32_t pykcp_crc32(const uint8_t *data, size_t size) {
    if (!ready) build();
    uint32_t crc = 0xFFFFFFFFu;
#ifdef PYKCP_CLMUL
    if (clmul < 0) {
        __builtin_cpu_init();
        clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    }
    if (clmul && size >= 64) {
        size_t bulk = size & ~(size_t)15;
        crc = fold(crc, data, bulk);
        data += bulk;
        size -= bulk;
    }
#endif
    return slice8(crc, data, size) ^ 0xFFFFFFFFu;
}
