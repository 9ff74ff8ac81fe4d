# C inlines of _bytes.py for the compiled build (modules cimport them; _bytes.py is what pure
# Python runs). crc32() is crc32.c's CRC-32 (PCLMULQDQ or slicing by 8), linked into each user.

cdef extern from "crc32.h":
    unsigned int pykcp_crc32(const unsigned char *data, size_t size) nogil


cdef inline unsigned int crc32(const unsigned char[:] data) noexcept:
    if data.shape[0] == 0:
        return 0
    return pykcp_crc32(&data[0], data.shape[0])


cdef inline unsigned int get_u32(const unsigned char[:] buf, Py_ssize_t offset) noexcept:
    return (buf[offset] | (<unsigned int>buf[offset + 1]) << 8
            | (<unsigned int>buf[offset + 2]) << 16 | (<unsigned int>buf[offset + 3]) << 24)


cdef inline void put_u32(unsigned char[:] buf, Py_ssize_t offset, unsigned int value) noexcept:
    buf[offset] = value & 0xFF
    buf[offset + 1] = (value >> 8) & 0xFF
    buf[offset + 2] = (value >> 16) & 0xFF
    buf[offset + 3] = value >> 24
