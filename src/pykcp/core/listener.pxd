# C types for listener.py (the compiled build; the .py file is the source of both builds).

cimport cython

from pykcp.core.packet cimport CryptoCodec
from pykcp.core.session cimport Session
from pykcp.core.snmp cimport Snmp

ctypedef long long i64

cdef i64 _FEC_OVERHEAD, _KCP_OVERHEAD, _MIN_PAYLOAD, _TYPE_DATA, _TYPE_OOB, _TYPE_PARITY


cdef class ListenerCore:
    cdef public object config, crypt
    cdef public Snmp snmp
    cdef CryptoCodec _codec
    cdef bint _crypto
    cdef object _nonce_source
    cdef Snmp _ended_snmp
    cdef public dict sessions
    cdef set _unaccepted, _pending
    cdef object _ended, _events
    cdef public bint closed
    cdef public i64 dropped_full

    @cython.locals(touched=dict)
    cpdef list receive_datagrams(self, batch, i64 now)

    @cython.locals(size=Py_ssize_t, flag=i64, sn=i64, session=Session, pending=set)
    cpdef object receive_datagram(self, data, addr, i64 now, dict touched=*)
