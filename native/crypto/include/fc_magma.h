/*
 * fc_magma — the Magma block cipher (GOST R 34.12-2015, 64-bit block, 256-bit key, S-boxes
 * "id-tc26-gost-28147-param-Z" of the standard) and its MAC mode (GOST R 34.13-2015 section 5.6:
 * OMAC1/CMAC with R_64 = 0x1B), the fiscal-sign primitive of the emulated fiscal drive.
 *
 * Rules
 * - Byte order is the standard's: the key, a block and a MAC are written most significant byte first,
 *   so the standard's hex strings are the byte strings (key ffeedd..., block fedcba9876543210).
 * - A key is expanded once into fc_magma_key (round keys and the two CMAC subkeys) and reused; the
 *   struct holds key material: the caller wipes it (fc_magma_wipe_key) when done.
 * - fc_magma_cmac writes the first out_len bytes (1..8) of the MAC and returns 0, or returns -1 and
 *   writes nothing when out_len is out of range. msg may be NULL only when len == 0.
 * - The *_u64 forms take and return blocks as big-endian 64-bit integers (block bytes b0..b7 ->
 *   b0 << 56 | ... | b7): the Python wrapper uses them to avoid output buffers.
 * - fc_magma_cmac_many MACs count messages of msg_len bytes each, laid out back to back in msgs
 *   (message i at msgs + i * msg_len), and writes the full 8-byte MAC of message i to out[i] in the
 *   *_u64 form: out[i] == fc_magma_cmac_u64(ks, msgs + i * msg_len, msg_len). It runs up to 4 chains
 *   interleaved (group commit of the drive: many 32-byte digests under one key). msgs may be NULL
 *   when msg_len == 0 or count == 0, out when count == 0; the buffers must not overlap.
 * - Table lookups are not constant-time (like every table Magma); the key is a drive's own, and the
 *   service does not expose timing to the key holder's adversaries at this layer.
 *
 * The region between the cffi-cdef markers is read verbatim by native/build_cffi.py as the cffi cdef.
 */
#ifndef FC_MAGMA_H
#define FC_MAGMA_H

#include <stddef.h>
#include <stdint.h>

/* cffi-cdef-begin */
typedef struct fc_magma_key {
    uint32_t k[8];   /* K1..K8: the key as big-endian 32-bit words */
    uint64_t mac_k1; /* CMAC subkey K1 */
    uint64_t mac_k2; /* CMAC subkey K2 */
} fc_magma_key;

void fc_magma_expand_key(fc_magma_key *ks, const uint8_t *key32);
void fc_magma_wipe_key(fc_magma_key *ks);
void fc_magma_encrypt_block(const fc_magma_key *ks, const uint8_t *in8, uint8_t *out8);
void fc_magma_decrypt_block(const fc_magma_key *ks, const uint8_t *in8, uint8_t *out8);
uint64_t fc_magma_encrypt_u64(const fc_magma_key *ks, uint64_t block);
uint64_t fc_magma_decrypt_u64(const fc_magma_key *ks, uint64_t block);
int fc_magma_cmac(const fc_magma_key *ks, const uint8_t *msg, size_t len, uint8_t *out, size_t out_len);
uint64_t fc_magma_cmac_u64(const fc_magma_key *ks, const uint8_t *msg, size_t len);
void fc_magma_cmac_many(const fc_magma_key *ks, const uint8_t *msgs, size_t msg_len, size_t count, uint64_t *out);
/* cffi-cdef-end */

#endif /* FC_MAGMA_H */
