/* CRC-32 (IEEE 802.3, reflected, the one kcp-go and zlib compute): PCLMULQDQ folding where
 * the CPU has it, slicing by 8 bytes otherwise (crc32.c). pykcp's compiled build checksums
 * every datagram with it; the pure build uses zlib's. */
#ifndef PYKCP_CRC32_H
#define PYKCP_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t pykcp_crc32(const uint8_t *data, size_t size);

#endif
