/* GF(2^8) multiply-accumulate over byte buffers; see gf256.h.
 *
 * A product c * x is split on the nibbles of x: c * x = c * (x & 15) ^ c * (x & 240), and
 * each half is one lookup in a 16-entry table, which PSHUFB performs on 16 (SSSE3) or 32
 * (AVX2) bytes at once. CPUs without SSSE3 use a 256-entry table per coefficient.
 */
#include "gf256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYKCP_X86 1
#endif

static uint8_t gf_exp[512];
static uint8_t gf_log[256];
static uint8_t mul_table[256][256]; /* mul_table[c][x] = c * x */
static uint8_t nib_low[256][16];    /* c * x for x in 0..15 */
static uint8_t nib_high[256][16];   /* c * (x << 4) for x in 0..15 */
static int ready = 0;
static int kind = 0; /* 0 scalar, 1 ssse3, 2 avx2 */

static uint8_t gf_mul(uint8_t a, uint8_t b) {
    if (a == 0 || b == 0) return 0;
    return gf_exp[gf_log[a] + gf_log[b]];
}

void pykcp_gf256_init(void) {
    if (ready) return;
    unsigned value = 1;
    for (int i = 0; i < 255; i++) {
        gf_exp[i] = (uint8_t)value;
        gf_log[value] = (uint8_t)i;
        value <<= 1;
        if (value & 0x100) value ^= 0x11D;
    }
    for (int i = 255; i < 512; i++) gf_exp[i] = gf_exp[i - 255];
    for (int c = 0; c < 256; c++) {
        for (int x = 0; x < 256; x++) mul_table[c][x] = gf_mul((uint8_t)c, (uint8_t)x);
        for (int x = 0; x < 16; x++) {
            nib_low[c][x] = mul_table[c][x];
            nib_high[c][x] = mul_table[c][x << 4];
        }
    }
#ifdef PYKCP_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) kind = 2;
    else if (__builtin_cpu_supports("ssse3")) kind = 1;
#endif
    ready = 1;
}

const char *pykcp_gf256_kind(void) {
    return kind == 2 ? "avx2" : kind == 1 ? "ssse3" : "scalar";
}

static void mul_add_scalar(uint8_t c, const uint8_t *in, uint8_t *out, size_t n) {
    const uint8_t *table = mul_table[c];
    for (size_t i = 0; i < n; i++) out[i] ^= table[in[i]];
}

#ifdef PYKCP_X86
__attribute__((target("ssse3")))
static size_t mul_add_ssse3(uint8_t c, const uint8_t *in, uint8_t *out, size_t n) {
    const __m128i low = _mm_loadu_si128((const __m128i *)nib_low[c]);
    const __m128i high = _mm_loadu_si128((const __m128i *)nib_high[c]);
    const __m128i mask = _mm_set1_epi8(0x0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i lo = _mm_shuffle_epi8(low, _mm_and_si128(x, mask));
        __m128i hi = _mm_shuffle_epi8(high, _mm_and_si128(_mm_srli_epi64(x, 4), mask));
        __m128i acc = _mm_loadu_si128((const __m128i *)(out + i));
        _mm_storeu_si128((__m128i *)(out + i), _mm_xor_si128(acc, _mm_xor_si128(lo, hi)));
    }
    return i;
}

__attribute__((target("avx2")))
static size_t mul_add_avx2(uint8_t c, const uint8_t *in, uint8_t *out, size_t n) {
    const __m256i low = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)nib_low[c]));
    const __m256i high =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)nib_high[c]));
    const __m256i mask = _mm256_set1_epi8(0x0f);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(in + i));
        __m256i lo = _mm256_shuffle_epi8(low, _mm256_and_si256(x, mask));
        __m256i hi = _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi64(x, 4), mask));
        __m256i acc = _mm256_loadu_si256((const __m256i *)(out + i));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_xor_si256(acc, _mm256_xor_si256(lo, hi)));
    }
    return i;
}
#endif

void pykcp_gf256_mul_add(uint8_t c, const uint8_t *in, uint8_t *out, size_t n) {
    if (c == 0 || n == 0) return;
    size_t done = 0;
    if (c == 1) {
        for (; done + 8 <= n; done += 8) {
            uint64_t a, b;
            memcpy(&a, in + done, 8);
            memcpy(&b, out + done, 8);
            b ^= a;
            memcpy(out + done, &b, 8);
        }
    }
#ifdef PYKCP_X86
    else if (kind == 2) done = mul_add_avx2(c, in, out, n);
    else if (kind == 1) done = mul_add_ssse3(c, in, out, n);
#endif
    mul_add_scalar(c, in + done, out + done, n - done);
}
