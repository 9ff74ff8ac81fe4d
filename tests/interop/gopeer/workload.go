package main

// Workload commands: kcp-go 5.6.1's side of `pykcp serve` / `pykcp client`, with the same flags
// (kcptun's names and defaults), the same echo and sink workloads and the same JSON line, so
// any pairing of pykcp and kcp-go can be run and compared.
//
//   wl-serve  -listen HOST:PORT -workload echo|sink [session flags]
//             prints "LISTEN host:port", serves every session until killed
//   wl-client -remote HOST:PORT -workload echo|sink -bytes N -size N [-pingpong] [session flags]
//             prints {"ok": true, "bytes": N, "seconds": S, "MBps": X, ...} or {"ok": false, ...}
//
// Sink: 8-byte big-endian length, then that many bytes; the server answers with the same 8 bytes.
// Echo: the server writes back what it reads; the client verifies every byte.

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	kcp "github.com/xtaci/kcp-go"
	"golang.org/x/crypto/pbkdf2"
)

type wlFlags struct {
	crypt, key, mode                   *string
	datashard, parityshard             *int
	nodelay, interval, resend, nc      *int
	sndwnd, rcvwnd, mtu, sockbuf, dscp *int
	acknodelay                         *bool
}

func wlAddFlags(fs *flag.FlagSet) wlFlags {
	return wlFlags{
		crypt:       fs.String("crypt", "aes", "kcptun cipher name"),
		key:         fs.String("key", "it's a secrect", "pre-shared secret (kcptun key derivation)"),
		mode:        fs.String("mode", "fast", "normal, fast, fast2, fast3, manual"),
		datashard:   fs.Int("datashard", 10, "FEC data shards"),
		parityshard: fs.Int("parityshard", 3, "FEC parity shards"),
		nodelay:     fs.Int("nodelay", 0, "manual mode: nodelay"),
		interval:    fs.Int("interval", 50, "manual mode: interval ms"),
		resend:      fs.Int("resend", 0, "manual mode: resend"),
		nc:          fs.Int("nc", 0, "manual mode: nc"),
		sndwnd:      fs.Int("sndwnd", 1024, "send window"),
		rcvwnd:      fs.Int("rcvwnd", 1024, "receive window"),
		mtu:         fs.Int("mtu", 1350, "MTU"),
		sockbuf:     fs.Int("sockbuf", 4194304, "socket buffers"),
		dscp:        fs.Int("dscp", 0, "DSCP"),
		acknodelay:  fs.Bool("acknodelay", false, "ACK at once"),
	}
}

// block maps a kcptun cipher name to kcp-go's BlockCrypt with kcptun's key truncation.
func (f wlFlags) block() (kcp.BlockCrypt, error) {
	pass := pbkdf2.Key([]byte(*f.key), []byte("kcp-go"), 4096, 32, sha1.New)
	switch *f.crypt {
	case "sm4", "tea", "xtea", "cast5", "aes-128":
		pass = pass[:16]
	case "aes-192", "3des":
		pass = pass[:24]
	case "aes-128-gcm":
		return nil, errors.New("aes-128-gcm needs a newer kcp-go than 5.6.1")
	}
	return newBlockCrypt(*f.crypt, pass)
}

func (f wlFlags) timing() (int, int, int, int, error) {
	switch *f.mode {
	case "normal":
		return 0, 40, 2, 1, nil
	case "fast":
		return 0, 30, 2, 1, nil
	case "fast2":
		return 1, 20, 2, 1, nil
	case "fast3":
		return 1, 10, 2, 1, nil
	case "manual":
		return *f.nodelay, *f.interval, *f.resend, *f.nc, nil
	}
	return 0, 0, 0, 0, fmt.Errorf("unknown mode %q", *f.mode)
}

// apply configures a session the way kcptun does.
func (f wlFlags) apply(sess *kcp.UDPSession, ownSocket bool) {
	nodelay, interval, resend, nc, _ := f.timing()
	sess.SetStreamMode(true)
	sess.SetWriteDelay(false)
	sess.SetNoDelay(nodelay, interval, resend, nc)
	sess.SetWindowSize(*f.sndwnd, *f.rcvwnd)
	sess.SetMtu(*f.mtu)
	sess.SetACKNoDelay(*f.acknodelay)
	if ownSocket {
		_ = sess.SetDSCP(*f.dscp)
		_ = sess.SetReadBuffer(*f.sockbuf)
		_ = sess.SetWriteBuffer(*f.sockbuf)
	}
}

func wlPayload(size int) []byte {
	buf := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(buf)
	return buf
}

func wlServe(args []string) error {
	fs := flag.NewFlagSet("wl-serve", flag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:29900", "HOST:PORT to bind")
	workload := fs.String("workload", "echo", "echo or sink")
	idle := fs.Float64("idle", 30, "end a session after this many seconds without data (0: never)")
	bufsize := fs.Int("buf", 1<<20, "read buffer per session, bytes")
	f := wlAddFlags(fs)
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if *workload != "echo" && *workload != "sink" {
		return fmt.Errorf("unknown workload %q", *workload)
	}
	if _, _, _, _, err := f.timing(); err != nil {
		return err
	}
	block, err := f.block()
	if err != nil {
		return err
	}
	l, err := kcp.ListenWithOptions(*listen, block, *f.datashard, *f.parityshard)
	if err != nil {
		return err
	}
	defer l.Close()
	_ = l.SetDSCP(*f.dscp)
	_ = l.SetReadBuffer(*f.sockbuf)
	_ = l.SetWriteBuffer(*f.sockbuf)
	fmt.Println("LISTEN", l.Addr().String())
	go func() {
		for {
			sess, err := l.AcceptKCP()
			if err != nil {
				return
			}
			f.apply(sess, false)
			go wlServeSession(sess, *workload, time.Duration(*idle*float64(time.Second)), *bufsize)
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

func wlServeSession(sess *kcp.UDPSession, workload string, idle time.Duration, bufsize int) {
	defer sess.Close()
	deadline := func() {
		if idle > 0 {
			_ = sess.SetReadDeadline(time.Now().Add(idle))
		}
	}
	buf := make([]byte, bufsize)
	if workload == "echo" {
		for {
			deadline()
			n, err := sess.Read(buf)
			if err != nil {
				return
			}
			if _, err := sess.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	header := make([]byte, 8)
	for {
		deadline()
		if _, err := io.ReadFull(sess, header); err != nil {
			return
		}
		remaining := binary.BigEndian.Uint64(header)
		for remaining > 0 {
			deadline()
			want := uint64(len(buf))
			if remaining < want {
				want = remaining
			}
			n, err := sess.Read(buf[:want])
			if err != nil {
				return
			}
			remaining -= uint64(n)
		}
		if _, err := sess.Write(header); err != nil {
			return
		}
	}
}

func wlClient(args []string) error {
	fs := flag.NewFlagSet("wl-client", flag.ContinueOnError)
	remote := fs.String("remote", "", "HOST:PORT of the server")
	workload := fs.String("workload", "echo", "echo or sink")
	total := fs.Int("bytes", 16<<20, "bytes to move")
	size := fs.Int("size", 1<<20, "bytes per write / message")
	pingpong := fs.Bool("pingpong", false, "echo one message at a time")
	timeout := fs.Float64("timeout", 120, "give up after this many seconds")
	f := wlAddFlags(fs)
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	out, err := wlRunClient(*remote, *workload, *total, *size, *pingpong, *timeout, f)
	if err != nil {
		out = map[string]interface{}{"ok": false, "error": err.Error()}
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	if err != nil {
		os.Exit(1)
	}
	return nil
}

func wlRunClient(remote, workload string, total, size int, pingpong bool, timeout float64,
	f wlFlags) (map[string]interface{}, error) {
	if size <= 0 || total < 0 {
		return nil, errors.New("bytes must be >= 0 and size > 0")
	}
	if _, _, _, _, err := f.timing(); err != nil {
		return nil, err
	}
	block, err := f.block()
	if err != nil {
		return nil, err
	}
	sess, err := kcp.DialWithOptions(remote, block, *f.datashard, *f.parityshard)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	f.apply(sess, true)
	_ = sess.SetDeadline(time.Now().Add(time.Duration(timeout * float64(time.Second))))

	out := map[string]interface{}{"ok": true, "workload": workload, "bytes": total}
	var rtts []float64
	// The data is made before the clock starts, as pykcp's client does: making 64 MiB of
	// pseudo-random bytes takes long enough to pull kcp-go's figure down by a third.
	chunk := wlPayload(size)
	var payload, echoed []byte
	if workload == "echo" {
		payload = wlPayload(total)
		echoed = make([]byte, total)
	}
	start := time.Now()
	switch workload {
	case "sink":
		header := make([]byte, 8)
		binary.BigEndian.PutUint64(header, uint64(total))
		if _, err := sess.Write(header); err != nil {
			return nil, err
		}
		for sent := 0; sent < total; {
			n := size
			if total-sent < n {
				n = total - sent
			}
			if _, err := sess.Write(chunk[:n]); err != nil {
				return nil, err
			}
			sent += n
		}
		reply := make([]byte, 8)
		if _, err := io.ReadFull(sess, reply); err != nil {
			return nil, fmt.Errorf("reading the sink reply: %v", err)
		}
		if !bytes.Equal(reply, header) {
			return nil, fmt.Errorf("sink server answered %x, expected %x", reply, header)
		}
	case "echo":
		if pingpong {
			for off := 0; off < total; off += size {
				end := off + size
				if end > total {
					end = total
				}
				sentAt := time.Now()
				if _, err := sess.Write(payload[off:end]); err != nil {
					return nil, err
				}
				if _, err := io.ReadFull(sess, echoed[:end-off]); err != nil {
					return nil, fmt.Errorf("reading the echo: %v", err)
				}
				rtts = append(rtts, float64(time.Since(sentAt).Nanoseconds())/1e6)
				if !bytes.Equal(echoed[:end-off], payload[off:end]) {
					return nil, fmt.Errorf("echo of the message at byte %d differs", off)
				}
			}
			out["pingpong"] = true
		} else {
			writeErr := make(chan error, 1)
			go func() {
				for off := 0; off < total; off += size {
					end := off + size
					if end > total {
						end = total
					}
					if _, err := sess.Write(payload[off:end]); err != nil {
						writeErr <- err
						return
					}
				}
				writeErr <- nil
			}()
			if _, err := io.ReadFull(sess, echoed); err != nil {
				return nil, fmt.Errorf("reading the echo: %v", err)
			}
			if err := <-writeErr; err != nil {
				return nil, err
			}
			if !bytes.Equal(echoed, payload) {
				return nil, errors.New("echo differs from what was sent")
			}
		}
	default:
		return nil, fmt.Errorf("unknown workload %q", workload)
	}
	seconds := time.Since(start).Seconds()
	out["seconds"] = seconds
	mbps := 0.0
	if seconds > 0 {
		mbps = float64(total) / seconds / 1e6
	}
	out["MBps"] = mbps
	if len(rtts) > 0 {
		sorted := append([]float64(nil), rtts...)
		sort.Float64s(sorted)
		sum := 0.0
		for _, r := range sorted {
			sum += r
		}
		p99 := int(float64(len(sorted)) * 0.99)
		if p99 >= len(sorted) {
			p99 = len(sorted) - 1
		}
		median := sorted[len(sorted)/2]
		if len(sorted)%2 == 0 {
			median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
		}
		out["messages"] = len(sorted)
		out["rtt_min_ms"] = sorted[0]
		out["rtt_median_ms"] = median
		out["rtt_p99_ms"] = sorted[p99]
		out["rtt_max_ms"] = sorted[len(sorted)-1]
		out["rtt_mean_ms"] = sum / float64(len(sorted))
	}
	snmp := kcp.DefaultSnmp.Copy()
	out["impl"] = "kcp-go"
	out["crypt"] = *f.crypt
	out["datashard"] = *f.datashard
	out["parityshard"] = *f.parityshard
	out["mode"] = *f.mode
	out["retrans"] = snmp.RetransSegs
	out["fec_recovered"] = snmp.FECRecovered
	return out, nil
}

func init() {
	register("wl-serve", "kcp-go side of `pykcp serve` (echo/sink workloads, kcptun flags)", wlServe)
	register("wl-client", "kcp-go side of `pykcp client` (prints the same JSON line)", wlClient)
}
