/*
 * fc_crc.c — CRC-16/CCITT-FALSE and CRC32C (see include/fc_crc.h for the rules).
 *
 * Tables are derived from the polynomials by a load-time constructor (no literal tables to mistype;
 * read-only afterwards, so no locking is needed). The reference is fiscal_core/crypto/_crc_py.py.
 */
#include "fc_crc.h"

#include <string.h>

#if !defined(__GNUC__)
#error "fc_crc.c needs GCC or Clang (constructor attribute, __builtin_cpu_supports)"
#endif

#if defined(__x86_64__)
#include <nmmintrin.h>
#define FC_CRC_HAVE_SSE42_PATH 1
#endif

static uint16_t fc_crc16_table[8][256];
static uint32_t fc_crc32c_table[8][256];

__attribute__((constructor)) static void fc_crc_init_tables(void)
{
    for (unsigned b = 0; b < 256; b++) {
        /* CRC-16/CCITT-FALSE: MSB first, poly 0x1021. */
        uint32_t c16 = b << 8;
        /* CRC32C: LSB first (reflected), poly 0x82F63B78. */
        uint32_t c32 = b;
        for (int bit = 0; bit < 8; bit++) {
            c16 = ((c16 & 0x8000u) ? ((c16 << 1) ^ 0x1021u) : (c16 << 1)) & 0xFFFFu;
            c32 = (c32 & 1u) ? ((c32 >> 1) ^ 0x82F63B78u) : (c32 >> 1);
        }
        fc_crc16_table[0][b] = (uint16_t)c16;
        fc_crc32c_table[0][b] = c32;
    }
    /* Slicing-by-8: table k is the CRC of a byte followed by k zero bytes. */
    for (unsigned b = 0; b < 256; b++) {
        for (int k = 1; k < 8; k++) {
            uint16_t p16 = fc_crc16_table[k - 1][b];
            fc_crc16_table[k][b] = (uint16_t)((p16 << 8) ^ fc_crc16_table[0][p16 >> 8]);
            uint32_t p32 = fc_crc32c_table[k - 1][b];
            fc_crc32c_table[k][b] = (p32 >> 8) ^ fc_crc32c_table[0][p32 & 0xFFu];
        }
    }
}

uint16_t fc_crc_crc16_ccitt(const uint8_t *data, size_t len, uint16_t init)
{
    uint32_t crc = init;
    const uint8_t *p = data;
    while (len >= 8) {
        crc ^= ((uint32_t)p[0] << 8) | p[1];
        crc = (uint32_t)fc_crc16_table[7][crc >> 8] ^ fc_crc16_table[6][crc & 0xFFu] ^ fc_crc16_table[5][p[2]]
            ^ fc_crc16_table[4][p[3]] ^ fc_crc16_table[3][p[4]] ^ fc_crc16_table[2][p[5]]
            ^ fc_crc16_table[1][p[6]] ^ fc_crc16_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = ((crc << 8) ^ fc_crc16_table[0][((crc >> 8) ^ *p++) & 0xFFu]) & 0xFFFFu;
    }
    return (uint16_t)crc;
}

static inline uint32_t fc_crc_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t fc_crc_crc32c_portable(const uint8_t *data, size_t len, uint32_t crc)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ fc_crc_load_le32(p);
        uint32_t hi = fc_crc_load_le32(p + 4);
        crc = fc_crc32c_table[7][lo & 0xFFu] ^ fc_crc32c_table[6][(lo >> 8) & 0xFFu]
            ^ fc_crc32c_table[5][(lo >> 16) & 0xFFu] ^ fc_crc32c_table[4][lo >> 24]
            ^ fc_crc32c_table[3][hi & 0xFFu] ^ fc_crc32c_table[2][(hi >> 8) & 0xFFu]
            ^ fc_crc32c_table[1][(hi >> 16) & 0xFFu] ^ fc_crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ fc_crc32c_table[0][(crc ^ *p++) & 0xFFu];
    }
    return ~crc;
}

#ifdef FC_CRC_HAVE_SSE42_PATH
/* The crc32 instruction computes exactly CRC32C (without the final inversion). Compiled for SSE4.2
 * through the target attribute only, so the module still runs on CPUs without it. */
__attribute__((target("sse4.2"))) static uint32_t fc_crc_crc32c_sse42(const uint8_t *p, size_t len, uint32_t crc)
{
    uint64_t c = ~crc;
    while (len >= 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        memcpy(&w2, p + 16, 8);
        memcpy(&w3, p + 24, 8);
        c = _mm_crc32_u64(c, w0);
        c = _mm_crc32_u64(c, w1);
        c = _mm_crc32_u64(c, w2);
        c = _mm_crc32_u64(c, w3);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) {
        c32 = _mm_crc32_u8(c32, *p++);
    }
    return ~c32;
}
#endif

int fc_crc_crc32c_hw_available(void)
{
#ifdef FC_CRC_HAVE_SSE42_PATH
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t fc_crc_crc32c(const uint8_t *data, size_t len, uint32_t crc)
{
#ifdef FC_CRC_HAVE_SSE42_PATH
    if (__builtin_cpu_supports("sse4.2")) {
        return fc_crc_crc32c_sse42(data, len, crc);
    }
#endif
    return fc_crc_crc32c_portable(data, len, crc);
}
