# C types for session.py (the compiled build; the .py file is the source of both builds).

cimport cython

from pykcp.core.fec cimport FECDecoder, FECEncoder
from pykcp.core.kcp cimport KCP
from pykcp.core.packet cimport CryptoCodec
from pykcp.core.snmp cimport Snmp

ctypedef long long i64

cdef i64 _FEC_OVERHEAD, _KCP_OVERHEAD, _MIN_PAYLOAD, _MTU_LIMIT, _OOB_HEADER_SIZE
cdef i64 _TYPE_DATA, _TYPE_OOB, _TYPE_PARITY


cdef class Session:
    cdef public i64 conv, last_heard
    cdef public object config, remote, error
    cdef public bint passive, closed, established, validated, write_delay
    cdef public Snmp snmp
    cdef CryptoCodec _codec
    cdef bint _crypto
    cdef i64 _overhead, _crypto_head
    cdef FECEncoder _fec_encoder
    cdef FECDecoder _fec_decoder
    cdef KCP _kcp
    cdef list _outbox
    cdef object _held, _events, _write_threshold, _deadline, _trace
    cdef i64 _received_bytes, _sent_bytes, _rate, _tokens_at
    cdef double _tokens
    cdef bint _read_signalled, _write_blocked, _started
    cdef i64 _idle_ms, _dead_link_ms, _keepalive_ms, _last_probe
    cdef i64 _accepted, _created, _establish_ms

    @cython.locals(size=Py_ssize_t, kcp=KCP, mss=i64, start=Py_ssize_t, waiting=i64)
    cpdef i64 send(self, data, i64 now)

    cpdef object recv(self, i64 now)

    cpdef bint receive_datagram(self, data, i64 now)

    cpdef void receive_datagrams(self, datagrams, i64 now)

    @cython.locals(snmp=Snmp, size=Py_ssize_t, kcp=KCP, flag=i64, kcp_now=i64,
                   accepted=bint, decoder=FECDecoder, at=i64)
    cpdef bint receive_payload(self, payload, i64 now)

    cdef void _confirm(self, i64 size)

    @cython.locals(payloads=list, out=list, packets=list, encoder=FECEncoder, head=i64,
                   codec=CryptoCodec)
    cpdef list datagrams_to_send(self, i64 now)

    @cython.locals(elapsed=i64, spent=i64, out=list, datagram=bytearray, missing=double)
    cdef list _release(self, i64 now)

    @cython.locals(kcp=KCP, silent_for=i64, keepalive=i64, delay=i64, waiting=i64,
                   unconfirmed=bint)
    cpdef void handle_timer(self, i64 now)

    @cython.locals(delay=i64)
    cdef void _flush(self, i64 now)

    @cython.locals(kcp=KCP, keepalive=i64)
    cdef void _rearm(self, i64 now, i64 delay)

    @cython.locals(keepalive=i64, third=i64)
    cdef i64 _probe_interval(self)

    cdef void _wake(self, i64 at)

    cdef void _check_writable(self)
