# C types for fec.py (the compiled build; the .py file is the source of both builds).

cimport cython

from pykcp.core.snmp cimport Snmp

ctypedef long long i64

cdef i64 _FEC_HEADER_SIZE, _FEC_OVERHEAD, _MTU_LIMIT, _TYPE_DATA, _TYPE_PARITY
cdef i64 _MAX_SHARD_SETS


cdef class FECEncoder:
    cdef public i64 data_shards, parity_shards
    cdef public Snmp snmp
    cdef object _codec
    cdef i64 _paws, _next, _max_size
    cdef object _max_latency_ms, _last_ms
    cdef list _shards

    @cython.locals(size=i64, seqid=i64, shards=list, out=list, packet=bytearray)
    cpdef list encode_into(self, bytearray buf, i64 head, i64 now_ms)

    cdef void _advance(self, i64 count)


cdef class AutoTune:
    cdef object _samples

    cpdef void sample(self, bint is_data, i64 seqid)


cdef class _Group:
    cdef public dict shards
    cdef public i64 data_count
    cdef public bint done


cdef class FECDecoder:
    cdef public i64 data_shards, parity_shards, shard_count
    cdef public Snmp snmp
    cdef public object trace
    cdef AutoTune _tuner
    cdef bint _should_tune
    cdef dict _groups
    cdef object _newest
    cdef i64 _paws
    cdef object _codec

    @cython.locals(length=Py_ssize_t, seqid=i64, flag=i64, is_data=bint, n=i64,
                   group_id=i64, index=i64, group=_Group, recovered=list, shards=dict)
    cpdef list decode(self, packet)

    @cython.locals(data_count=i64, declared=i64, size=i64, out=list, shards=dict)
    cdef list _decode_group(self, _Group group)
