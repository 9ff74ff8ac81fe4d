# C types for snmp.py's counters (compiled builds): plain C integers the hot paths bump.

cdef class Snmp:
    cdef public long long BytesSent
    cdef public long long BytesReceived
    cdef public long long MaxConn
    cdef public long long ActiveOpens
    cdef public long long PassiveOpens
    cdef public long long CurrEstab
    cdef public long long InErrs
    cdef public long long InCsumErrors
    cdef public long long KCPInErrors
    cdef public long long InPkts
    cdef public long long OutPkts
    cdef public long long InSegs
    cdef public long long OutSegs
    cdef public long long InBytes
    cdef public long long OutBytes
    cdef public long long RetransSegs
    cdef public long long FastRetransSegs
    cdef public long long EarlyRetransSegs
    cdef public long long LostSegs
    cdef public long long RepeatSegs
    cdef public long long FECFullShardSet
    cdef public long long FECParityShards
    cdef public long long FECErrs
    cdef public long long FECRecovered
    cdef public long long FECShardSet
    cdef public long long FECShardMin
    cdef public long long RingBufferSndQueue
    cdef public long long RingBufferRcvQueue
    cdef public long long RingBufferSndBuffer
    cdef public long long OOBPackets
    cdef public long long FECShortShards
