/*
 * fc_crc — checksums of the fiscal core.
 *
 * Rules
 * - CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0; check("123456789") = 0x29B1)
 *   guards the OFD container (header [0:2] + [4:32] + body) and is the check part of the registration
 *   number (tag 1037). `init` is the running value: crc16(b, crc16(a, 0xFFFF)) == crc16(a + b, 0xFFFF).
 * - CRC32C (Castagnoli, reflected poly 0x82F63B78, init/xorout 0xFFFFFFFF; check = 0xE3069283) guards
 *   drive records. `crc` is the previous result, 0 to start, like zlib.crc32:
 *   crc32c(b, crc32c(a, 0)) == crc32c(a + b, 0).
 * - fc_crc_crc32c uses the SSE4.2 crc32 instruction when the CPU has it (runtime check), else portable
 *   slicing-by-8; fc_crc_crc32c_portable always takes the portable path (so tests can cover both).
 * - data may be NULL only when len == 0. No allocation, no global state besides read-only tables.
 *
 * The region between the cffi-cdef markers is read verbatim by native/build_cffi.py as the cffi cdef:
 * keep it to plain declarations (no macros, no #include).
 */
#ifndef FC_CRC_H
#define FC_CRC_H

#include <stddef.h>
#include <stdint.h>

/* cffi-cdef-begin */
uint16_t fc_crc_crc16_ccitt(const uint8_t *data, size_t len, uint16_t init);
uint32_t fc_crc_crc32c(const uint8_t *data, size_t len, uint32_t crc);
uint32_t fc_crc_crc32c_portable(const uint8_t *data, size_t len, uint32_t crc);
int fc_crc_crc32c_hw_available(void);
/* cffi-cdef-end */

#endif /* FC_CRC_H */
