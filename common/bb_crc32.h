/* bb_crc32.h — CRC-32 (IEEE 802.3, reflected, as zlib), incremental. */
#ifndef BB_CRC32_H
#define BB_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed pieces in order; the result of the last call is the CRC. */
uint32_t bb_crc32(uint32_t crc, const void *data, size_t len);

#endif
