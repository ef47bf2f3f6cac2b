/* The CRC32C and Magma kernels of native/crypto, compiled again into fiscal_core._native._seal as one
 * translation unit of its own: its own object file, so a shared build directory never links the cffi
 * module with objects built for this one (or the other way round). */
#include "../crypto/fc_crc.c"
#include "../crypto/fc_magma.c"
