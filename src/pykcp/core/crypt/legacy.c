/* See legacy.h. TEA and XTEA take big-endian words, Twofish little-endian ones, as Go's
 * golang.org/x/crypto packages that kcp-go wraps. */
#include "legacy.h"

#include <string.h>

static uint32_t load_be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t load_le(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void store_le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* kcp-go's TEA has 16 rounds: 8 cycles of two half-rounds. */
static void tea(const pykcp_legacy_t *ctx, const uint8_t *in, uint8_t *out) {
    uint32_t v0 = load_be(in), v1 = load_be(in + 4), sum = 0;
    const uint32_t *k = ctx->key;
    for (int i = 0; i < 8; i++) {
        sum += 0x9E3779B9u;
        v0 += ((v1 << 4) + k[0]) ^ (v1 + sum) ^ ((v1 >> 5) + k[1]);
        v1 += ((v0 << 4) + k[2]) ^ (v0 + sum) ^ ((v0 >> 5) + k[3]);
    }
    store_be(out, v0);
    store_be(out + 4, v1);
}

static void xtea(const pykcp_legacy_t *ctx, const uint8_t *in, uint8_t *out) {
    uint32_t v0 = load_be(in), v1 = load_be(in + 4);
    const uint32_t *r = ctx->rounds;
    for (int i = 0; i < 64; i += 2) {
        v0 += (((v1 << 4) ^ (v1 >> 5)) + v1) ^ r[i];
        v1 += (((v0 << 4) ^ (v0 >> 5)) + v0) ^ r[i + 1];
    }
    store_be(out, v0);
    store_be(out + 4, v1);
}

static void twofish(const pykcp_legacy_t *ctx, const uint8_t *in, uint8_t *out) {
    const uint32_t *k = ctx->sub;
    const uint32_t(*s)[256] = ctx->sbox;
    uint32_t r[4];
    for (int i = 0; i < 4; i++) r[i] = load_le(in + 4 * i) ^ k[i];
    for (int round = 0; round < 16; round++) {
        /* g(R0) and g(ROL(R1, 8)); the halves swap roles every round instead of moving. */
        int a = (round & 1) ? 2 : 0, b = a ^ 2;
        uint32_t x = r[a], y = r[a + 1];
        uint32_t t0 = s[0][x & 0xFF] ^ s[1][(x >> 8) & 0xFF] ^ s[2][(x >> 16) & 0xFF] ^ s[3][x >> 24];
        uint32_t t1 = s[1][y & 0xFF] ^ s[2][(y >> 8) & 0xFF] ^ s[3][(y >> 16) & 0xFF] ^ s[0][y >> 24];
        uint32_t z = r[b] ^ (t0 + t1 + k[8 + 2 * round]);
        r[b] = (z >> 1) | (z << 31);
        r[b + 1] = rol(r[b + 1], 1) ^ (t0 + 2 * t1 + k[9 + 2 * round]);
    }
    store_le(out, r[2] ^ k[4]);
    store_le(out + 4, r[3] ^ k[5]);
    store_le(out + 8, r[0] ^ k[6]);
    store_le(out + 12, r[1] ^ k[7]);
}

static void block(const pykcp_legacy_t *ctx, const uint8_t *in, uint8_t *out) {
    switch (ctx->kind) {
    case PYKCP_TEA: tea(ctx, in, out); break;
    case PYKCP_XTEA: xtea(ctx, in, out); break;
    default: twofish(ctx, in, out); break;
    }
}

void pykcp_legacy_encrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size) {
    /* C[i] = P[i] ^ E(C[i-1]), C[-1] = IV: a serial chain. */
    uint8_t stream[16];
    size_t n = ctx->block;
    block(ctx, ctx->iv, stream);
    for (; size >= n; buf += n, size -= n) {
        for (size_t i = 0; i < n; i++) buf[i] ^= stream[i];
        block(ctx, buf, stream);
    }
    for (size_t i = 0; i < size; i++) buf[i] ^= stream[i];
}

void pykcp_legacy_decrypt(const pykcp_legacy_t *ctx, uint8_t *buf, size_t size) {
    /* P[i] = C[i] ^ E(C[i-1]): the next keystream block comes from the ciphertext, so it is
     * computed before this block is overwritten. */
    uint8_t stream[16], next[16];
    size_t n = ctx->block;
    block(ctx, ctx->iv, stream);
    for (; size >= n; buf += n, size -= n) {
        block(ctx, buf, next);
        for (size_t i = 0; i < n; i++) buf[i] ^= stream[i];
        memcpy(stream, next, n);
    }
    for (size_t i = 0; i < size; i++) buf[i] ^= stream[i];
}
