/* bb_crc32.h — CRC-32 (IEEE 802.3, reflected, as zlib), incremental. */
#ifndef BB_CRC32_H
#define BB_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed pieces in order; the result of the last call is the CRC. */
uint32_t bb_crc32(uint32_t crc, const void *data, size_t len);

/* The CRC of A followed by B from crc_a, crc_b and B's length in bytes (zlib's
 * crc32_combine, of the same CRC), without B's bytes; len_b at most INT32_MAX, which every
 * zlib's z_off_t holds. */
uint32_t bb_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint32_t len_b);

#endif
