# C types for packet.py (the compiled build; the .py file is the source of both builds).

cimport cython

from pykcp.core._bytes cimport crc32, get_u32, put_u32
from pykcp.core.snmp cimport Snmp

ctypedef long long i64


cdef class CryptoCodec:
    cdef public object crypt
    cdef public Snmp snmp
    cdef public i64 header_size, trailer_size
    cdef object _next_nonce
    cdef bint _exact, _identity
    cdef object _aead, _block

    @cython.locals(size=i64, payload_end=Py_ssize_t, view="unsigned char[:]")
    cpdef bytearray seal_into(self, bytearray buf, nonce=*)

    @cython.locals(nonce_size=i64)
    cpdef object open(self, datagram)
