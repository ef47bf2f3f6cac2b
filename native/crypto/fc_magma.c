/*
 * fc_magma.c — Magma (GOST R 34.12-2015) and its CMAC (GOST R 34.13-2015 5.6); rules in
 * include/fc_magma.h, reference in fiscal_core/crypto/_magma_py.py.
 *
 * Speed: the round function g(x) = rotl11(t(x + k)) is table-driven, in three lookups: x is cut on
 * nibble boundaries into bits 0-11, 12-19 and 20-31, and fc_magma_t_lo / _mid / _hi hold each piece's
 * S-box image already moved to its place and rotated left by 11 (4,096 + 256 + 4,096 words, 33 KiB:
 * L1-resident). The tables are derived from the S-boxes at load time (constructor) and are read-only
 * afterwards. CMAC is CBC-like and so serial: the loop keeps the chaining value in registers and inlines
 * the 32 rounds, and a round is bound by latency: add -> index -> L1 load -> xor. Three lookups need two
 * xor levels after the loads where four byte-wide lookups needed three: ~10 cycles a round instead of
 * ~13 on this Xeon (4.0 GHz): 78 -> ~100 MB/s of CMAC per message. (The middle index costs a shift and
 * a mask, so its load lands a cycle after the others; it is xored last.) More throughput needs several
 * independent messages interleaved: fc_magma_cmac_many runs 4 chains round by round, bound by
 * instruction throughput, so 8 lanes would only spill registers.
 */
#include "fc_magma.h"

#include <string.h>

#if !defined(__GNUC__)
#error "fc_magma.c needs GCC or Clang (constructor attribute)"
#endif

/* GOST R 34.12-2015 section 4.1.1, pi'_0 .. pi'_7 (id-tc26-gost-28147-param-Z). */
static const uint8_t fc_magma_pi[8][16] = {
    {12, 4, 6, 2, 10, 5, 11, 9, 14, 8, 13, 7, 0, 3, 15, 1},
    {6, 8, 2, 3, 9, 10, 5, 12, 1, 14, 4, 7, 11, 13, 0, 15},
    {11, 3, 5, 8, 2, 15, 10, 13, 14, 1, 7, 4, 12, 9, 6, 0},
    {12, 8, 2, 1, 13, 4, 15, 6, 7, 0, 10, 5, 3, 14, 9, 11},
    {7, 15, 5, 10, 8, 1, 6, 13, 0, 9, 3, 14, 11, 4, 2, 12},
    {5, 13, 15, 6, 9, 2, 12, 10, 11, 7, 8, 1, 4, 3, 14, 0},
    {8, 14, 2, 5, 6, 9, 1, 12, 15, 4, 11, 0, 13, 10, 3, 7},
    {1, 7, 14, 13, 0, 5, 8, 3, 4, 15, 10, 6, 9, 12, 11, 2},
};

/* g's pieces: bits 0-11 (nibbles 0-2), 12-19 (nibbles 3-4), 20-31 (nibbles 5-7) of x. */
static uint32_t fc_magma_t_lo[4096] __attribute__((aligned(64)));
static uint32_t fc_magma_t_mid[256] __attribute__((aligned(64)));
static uint32_t fc_magma_t_hi[4096] __attribute__((aligned(64)));

static inline uint32_t fc_magma_rotl11(uint32_t x)
{
    return (x << 11) | (x >> 21);
}

/* t applied to the nibbles first..first+count-1 of v << (4 * first), the other nibbles left zero. */
static uint32_t fc_magma_t_part(uint32_t v, unsigned first, unsigned count)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < count; i++) {
        s |= (uint32_t)fc_magma_pi[first + i][(v >> (4 * i)) & 15u] << (4 * (first + i));
    }
    return s;
}

__attribute__((constructor)) static void fc_magma_init_tables(void)
{
    for (uint32_t v = 0; v < 4096; v++) {
        fc_magma_t_lo[v] = fc_magma_rotl11(fc_magma_t_part(v, 0, 3));
        fc_magma_t_hi[v] = fc_magma_rotl11(fc_magma_t_part(v, 5, 3));
    }
    for (uint32_t v = 0; v < 256; v++) {
        fc_magma_t_mid[v] = fc_magma_rotl11(fc_magma_t_part(v, 3, 2));
    }
}

static inline uint32_t fc_magma_load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t fc_magma_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void fc_magma_store_be64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/*
 * One block: a = a1 || a0 (a1 = high half). Rounds G[K_i] for i = 1..31 then G*[K_32]; with the
 * halves in n1 (starts as a0) and n2 (starts as a1) each round xors g(other + K_i) into one half in
 * turn, and the last round leaves the result as n1 || n2. The round keys are K1..K8 three times,
 * then K8..K1 (encryption); decryption uses the reverse order K1..K8, then K8..K1 three times.
 *
 * Each round needs the previous one's result, so the xor chain is ordered by operand arrival: the old
 * half with the low piece, then the high piece, then the middle one (its index takes a shift and a mask,
 * one instruction more). FC_MAGMA_KEEP stops GCC from reassociating the chain into another order; it
 * emits no instruction.
 */
#define FC_MAGMA_KEEP(v) __asm__("" : "+r"(v))

#define FC_MAGMA_ROUND(dst, src, key) \
    do { \
        uint32_t x_ = (src) + (key); \
        uint32_t a_ = fc_magma_t_lo[x_ & 0xFFFu] ^ (dst); \
        FC_MAGMA_KEEP(a_); \
        a_ ^= fc_magma_t_hi[x_ >> 20]; \
        FC_MAGMA_KEEP(a_); \
        (dst) = a_ ^ fc_magma_t_mid[(x_ >> 12) & 0xFFu]; \
    } while (0)

#define FC_MAGMA_R2(ka, kb) \
    do { \
        FC_MAGMA_ROUND(n2, n1, ka); \
        FC_MAGMA_ROUND(n1, n2, kb); \
    } while (0)

__attribute__((always_inline)) static inline uint64_t fc_magma_encrypt_inline(const uint32_t k[8], uint64_t block)
{
    uint32_t n1 = (uint32_t)block, n2 = (uint32_t)(block >> 32);
    for (int rep = 0; rep < 3; rep++) {
        FC_MAGMA_R2(k[0], k[1]);
        FC_MAGMA_R2(k[2], k[3]);
        FC_MAGMA_R2(k[4], k[5]);
        FC_MAGMA_R2(k[6], k[7]);
    }
    FC_MAGMA_R2(k[7], k[6]);
    FC_MAGMA_R2(k[5], k[4]);
    FC_MAGMA_R2(k[3], k[2]);
    FC_MAGMA_R2(k[1], k[0]);
    return ((uint64_t)n1 << 32) | n2;
}

__attribute__((always_inline)) static inline uint64_t fc_magma_decrypt_inline(const uint32_t k[8], uint64_t block)
{
    uint32_t n1 = (uint32_t)block, n2 = (uint32_t)(block >> 32);
    FC_MAGMA_R2(k[0], k[1]);
    FC_MAGMA_R2(k[2], k[3]);
    FC_MAGMA_R2(k[4], k[5]);
    FC_MAGMA_R2(k[6], k[7]);
    for (int rep = 0; rep < 3; rep++) {
        FC_MAGMA_R2(k[7], k[6]);
        FC_MAGMA_R2(k[5], k[4]);
        FC_MAGMA_R2(k[3], k[2]);
        FC_MAGMA_R2(k[1], k[0]);
    }
    return ((uint64_t)n1 << 32) | n2;
}

/*
 * Two and four independent blocks at once, for fc_magma_cmac_many: the same rounds on each lane, lane
 * after lane within a round, so the out-of-order core overlaps the lanes' latency chains.
 */
#define FC_MAGMA_R2X2(ka, kb) \
    do { \
        FC_MAGMA_ROUND(a2, a1, ka); \
        FC_MAGMA_ROUND(b2, b1, ka); \
        FC_MAGMA_ROUND(a1, a2, kb); \
        FC_MAGMA_ROUND(b1, b2, kb); \
    } while (0)

__attribute__((always_inline)) static inline void fc_magma_encrypt_x2(const uint32_t k[8], uint64_t v[2])
{
    uint32_t a1 = (uint32_t)v[0], a2 = (uint32_t)(v[0] >> 32);
    uint32_t b1 = (uint32_t)v[1], b2 = (uint32_t)(v[1] >> 32);
    for (int rep = 0; rep < 3; rep++) {
        FC_MAGMA_R2X2(k[0], k[1]);
        FC_MAGMA_R2X2(k[2], k[3]);
        FC_MAGMA_R2X2(k[4], k[5]);
        FC_MAGMA_R2X2(k[6], k[7]);
    }
    FC_MAGMA_R2X2(k[7], k[6]);
    FC_MAGMA_R2X2(k[5], k[4]);
    FC_MAGMA_R2X2(k[3], k[2]);
    FC_MAGMA_R2X2(k[1], k[0]);
    v[0] = ((uint64_t)a1 << 32) | a2;
    v[1] = ((uint64_t)b1 << 32) | b2;
}

#define FC_MAGMA_R2X4(ka, kb) \
    do { \
        FC_MAGMA_ROUND(a2, a1, ka); \
        FC_MAGMA_ROUND(b2, b1, ka); \
        FC_MAGMA_ROUND(c2, c1, ka); \
        FC_MAGMA_ROUND(d2, d1, ka); \
        FC_MAGMA_ROUND(a1, a2, kb); \
        FC_MAGMA_ROUND(b1, b2, kb); \
        FC_MAGMA_ROUND(c1, c2, kb); \
        FC_MAGMA_ROUND(d1, d2, kb); \
    } while (0)

__attribute__((always_inline)) static inline void fc_magma_encrypt_x4(const uint32_t k[8], uint64_t v[4])
{
    uint32_t a1 = (uint32_t)v[0], a2 = (uint32_t)(v[0] >> 32);
    uint32_t b1 = (uint32_t)v[1], b2 = (uint32_t)(v[1] >> 32);
    uint32_t c1 = (uint32_t)v[2], c2 = (uint32_t)(v[2] >> 32);
    uint32_t d1 = (uint32_t)v[3], d2 = (uint32_t)(v[3] >> 32);
    /* unrolled: 4 lanes leave no register spare for a loop counter (~3% faster here) */
#pragma GCC unroll 3
    for (int rep = 0; rep < 3; rep++) {
        FC_MAGMA_R2X4(k[0], k[1]);
        FC_MAGMA_R2X4(k[2], k[3]);
        FC_MAGMA_R2X4(k[4], k[5]);
        FC_MAGMA_R2X4(k[6], k[7]);
    }
    FC_MAGMA_R2X4(k[7], k[6]);
    FC_MAGMA_R2X4(k[5], k[4]);
    FC_MAGMA_R2X4(k[3], k[2]);
    FC_MAGMA_R2X4(k[1], k[0]);
    v[0] = ((uint64_t)a1 << 32) | a2;
    v[1] = ((uint64_t)b1 << 32) | b2;
    v[2] = ((uint64_t)c1 << 32) | c2;
    v[3] = ((uint64_t)d1 << 32) | d2;
}

#undef FC_MAGMA_R2X4
#undef FC_MAGMA_R2X2
#undef FC_MAGMA_R2
#undef FC_MAGMA_ROUND
#undef FC_MAGMA_KEEP

/* Multiplication by x in GF(2^64) mod x^64 + x^4 + x^3 + x + 1 (R_64 = 0x1B), 34.13 section 5.4.2. */
static inline uint64_t fc_magma_dbl(uint64_t v)
{
    return (v << 1) ^ ((v >> 63) ? 0x1Bu : 0u);
}

void fc_magma_expand_key(fc_magma_key *ks, const uint8_t *key32)
{
    for (int i = 0; i < 8; i++) {
        ks->k[i] = fc_magma_load_be32(key32 + 4 * i);
    }
    uint64_t r = fc_magma_encrypt_inline(ks->k, 0);
    ks->mac_k1 = fc_magma_dbl(r);
    ks->mac_k2 = fc_magma_dbl(ks->mac_k1);
}

void fc_magma_wipe_key(fc_magma_key *ks)
{
    /* volatile stores so the wipe is not dropped as a dead store */
    volatile uint8_t *p = (volatile uint8_t *)ks;
    for (size_t i = 0; i < sizeof *ks; i++) {
        p[i] = 0;
    }
}

uint64_t fc_magma_encrypt_u64(const fc_magma_key *ks, uint64_t block)
{
    return fc_magma_encrypt_inline(ks->k, block);
}

uint64_t fc_magma_decrypt_u64(const fc_magma_key *ks, uint64_t block)
{
    return fc_magma_decrypt_inline(ks->k, block);
}

void fc_magma_encrypt_block(const fc_magma_key *ks, const uint8_t *in8, uint8_t *out8)
{
    fc_magma_store_be64(out8, fc_magma_encrypt_inline(ks->k, fc_magma_load_be64(in8)));
}

void fc_magma_decrypt_block(const fc_magma_key *ks, const uint8_t *in8, uint8_t *out8)
{
    fc_magma_store_be64(out8, fc_magma_decrypt_inline(ks->k, fc_magma_load_be64(in8)));
}

/*
 * The last block of a message, ready to be xored into the chain: a complete one (n == 8) xor K1, an
 * incomplete or empty one (n = 0..7) padded by procedure 3 (34.13 section 4.1.3: 1 bit then zeros)
 * xor K2. tail may be NULL only when n == 0.
 */
static inline uint64_t fc_magma_cmac_last(const fc_magma_key *ks, const uint8_t *tail, size_t n)
{
    if (n == 8) {
        return fc_magma_load_be64(tail) ^ ks->mac_k1;
    }
    uint8_t buf[8] = {0};
    if (n) {
        memcpy(buf, tail, n);
    }
    buf[n] = 0x80;
    return fc_magma_load_be64(buf) ^ ks->mac_k2;
}

uint64_t fc_magma_cmac_u64(const fc_magma_key *ks, const uint8_t *msg, size_t len)
{
    uint32_t k[8];
    memcpy(k, ks->k, sizeof k); /* locals: the compiler may keep them in registers */
    uint64_t c = 0;
    /* Every block but the last goes through plain CBC; the last (complete or padded) gets K1 or K2. */
    while (len > 8) {
        c = fc_magma_encrypt_inline(k, c ^ fc_magma_load_be64(msg));
        msg += 8;
        len -= 8;
    }
    c = fc_magma_encrypt_inline(k, c ^ fc_magma_cmac_last(ks, msg, len));
    return c;
}

/*
 * count messages of msg_len bytes each: all have the same number of blocks and the same kind of last
 * block, so a group of lanes walks its messages in lockstep. Groups of 4, then one group of 2 (count
 * mod 4 >= 2), then a single chain for an odd last message.
 */
void fc_magma_cmac_many(const fc_magma_key *ks, const uint8_t *msgs, size_t msg_len, size_t count, uint64_t *out)
{
    if (count == 0) {
        return;
    }
    if (msg_len == 0) {
        /* all empty: one MAC; and msgs may be NULL, where msgs + i * 0 would not be defined */
        uint64_t mac = fc_magma_cmac_u64(ks, NULL, 0);
        for (size_t i = 0; i < count; i++) {
            out[i] = mac;
        }
        return;
    }
    uint32_t k[8];
    memcpy(k, ks->k, sizeof k);
    const size_t head = (msg_len - 1) / 8 * 8; /* the plain CBC blocks: all but the last */
    const size_t tail = msg_len - head;         /* the last block's 1..8 bytes */
    size_t i = 0;
    for (; count - i >= 4; i += 4) {
        const uint8_t *p = msgs + i * msg_len;
        uint64_t c[4] = {0, 0, 0, 0};
        for (size_t off = 0; off < head; off += 8) {
            for (size_t j = 0; j < 4; j++) {
                c[j] ^= fc_magma_load_be64(p + j * msg_len + off);
            }
            fc_magma_encrypt_x4(k, c);
        }
        for (size_t j = 0; j < 4; j++) {
            c[j] ^= fc_magma_cmac_last(ks, p + j * msg_len + head, tail);
        }
        fc_magma_encrypt_x4(k, c);
        memcpy(out + i, c, sizeof c);
    }
    if (count - i >= 2) {
        const uint8_t *p = msgs + i * msg_len;
        uint64_t c[2] = {0, 0};
        for (size_t off = 0; off < head; off += 8) {
            c[0] ^= fc_magma_load_be64(p + off);
            c[1] ^= fc_magma_load_be64(p + msg_len + off);
            fc_magma_encrypt_x2(k, c);
        }
        c[0] ^= fc_magma_cmac_last(ks, p + head, tail);
        c[1] ^= fc_magma_cmac_last(ks, p + msg_len + head, tail);
        fc_magma_encrypt_x2(k, c);
        memcpy(out + i, c, sizeof c);
        i += 2;
    }
    if (i < count) {
        out[i] = fc_magma_cmac_u64(ks, msgs + i * msg_len, msg_len);
    }
}

int fc_magma_cmac(const fc_magma_key *ks, const uint8_t *msg, size_t len, uint8_t *out, size_t out_len)
{
    if (out_len < 1 || out_len > 8) {
        return -1;
    }
    uint8_t full[8];
    fc_magma_store_be64(full, fc_magma_cmac_u64(ks, msg, len));
    memcpy(out, full, out_len);
    return 0;
}
