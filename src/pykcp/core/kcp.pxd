# C types for kcp.py (the compiled build; the .py file is the source of both builds).
#
# Every number is a signed 64-bit C integer: u32 sequence numbers and timestamps fit, and the
# source's Python arithmetic ("(a - b) & 0xFFFFFFFF", negative intermediate values, // and %)
# means the same on it. Queues and buffers stay Python objects.

cimport cython

from pykcp.core.snmp cimport Snmp

ctypedef long long i64

cdef i64 _RTO_NDL, _RTO_MIN, _RTO_DEF, _RTO_MAX
cdef i64 _CMD_PUSH, _CMD_ACK, _CMD_WASK, _CMD_WINS, _ASK_SEND, _ASK_TELL
cdef i64 _WND_SND, _WND_RCV, _MTU_DEF, _INTERVAL, _OVERHEAD, _DEADLINK
cdef i64 _THRESH_INIT, _THRESH_MIN, _PROBE_INIT, _PROBE_LIMIT, _FRAGMENT_LIMIT
cdef i64 _ERR_BAD_CONV, _ERR_BAD_LENGTH, _ERR_BAD_CMD, _ERR_BAD_FRAGMENT
cdef i64 _M32, _HALF, _DEAD, _FASTACK_LOCKED


cdef class Segment:
    cdef public i64 frg, sn, ts, xmit, rto, resendts, fastack
    cdef public bint acked
    cdef public bytes data


cdef class KCP:
    cdef public i64 conv, mtu, mss, state, snd_una, snd_nxt, rcv_nxt, ssthresh
    cdef public i64 rx_srtt, rx_rttvar, rx_rto, rx_minrto, snd_wnd, rcv_wnd, rmt_wnd
    cdef public i64 cwnd, incr, probe, ts_probe, probe_wait, interval, ts_flush
    cdef public i64 nodelay_mode, dead_link, fastresend, nocwnd, fragment_limit, reserve
    cdef public bint updated, stream, ack_nodelay, hold
    cdef public Snmp snmp
    cdef public object snd_queue, snd_buf, rcv_queue
    cdef public dict rcv_buf
    cdef public list acklist
    cdef public list _output
    cdef public object trace
    cdef public i64 _unsent, _min_resendts, _min_count
    cdef public bint _fastack_pending, _min_stale

    cpdef i64 waitsnd(self)

    @cython.locals(size=Py_ssize_t, mss=i64, room=i64, rest=i64, count=i64, pos=i64, i=i64,
                   stream=bint, last=Segment)
    cpdef int send(self, data)

    @cython.locals(frg=i64, total=i64)
    cpdef i64 peeksize(self)

    @cython.locals(frg=i64, recover=bint)
    cpdef object recv(self)

    @cython.locals(rcv_wnd=i64, rcv_nxt=i64)
    cdef void _move_ready(self)

    @cython.locals(end=Py_ssize_t, off=Py_ssize_t, my_conv=i64, prev_una=i64,
                   want_flush=bint, retransmit=bint, has_ack=bint, latest_ts=i64, in_segs=i64, error=int,
                   conv=i64, cmd=i64, frg=i64, wnd=i64, ts=i64, sn=i64, una=i64,
                   length=i64, rcv_nxt=i64, repeat=bint, rtt=i64, snmp=Snmp, rcv_buf=dict,
                   acklist=list, fastacks=list)
    cpdef int input(self, data, i64 now, bint regular=*)

    @cython.locals(removed=i64, min_rs=i64, stale=bint, seg=Segment)
    cdef i64 _parse_una(self, i64 una)

    @cython.locals(seg=Segment)
    cdef void _parse_ack(self, i64 sn)

    @cython.locals(una=i64, fastresend=i64, trigger=bint, pending=bint, sn=i64, ts=i64,
                   count=i64, fastack=i64, limit=i64, nxt=i64, index=i64, hits=i64,
                   seg=Segment, bounds=list, segs=list, active=list)
    cpdef bint _count_fastacks(self, list acks, i64 now)

    @cython.locals(delta=i64, rto=i64)
    cdef void _update_rtt(self, i64 rtt)

    @cython.locals(rmt_wnd=i64, mss=i64)
    cdef void _grow_cwnd(self)

    @cython.locals(conv=i64, mtu=i64, reserve=i64, full=i64, buf=bytearray, wnd=i64,
                   una=i64, out_segs=i64, ack_sn=i64, ack_ts=i64, last=Py_ssize_t,
                   i=Py_ssize_t, sn=i64, ts=i64, probe=i64, wait=i64, eff_wnd=i64,
                   new_count=i64, snd_nxt=i64, limit=i64, seg=Segment, resent=i64,
                   next_flush=i64, lost=i64, fast=i64, early=i64, timers_quiet=bint,
                   rx_rto=i64, rto_step=i64, dead_link=i64, pending=bint, min_delay=i64,
                   min_count=i64, fastack=i64, delay=i64, payload=bytes, snmp=Snmp,
                   inflight=i64, out=list, acklist=list, tail=list, trace=object)
    cpdef i64 flush(self, i64 now, bint ack_only=*)
