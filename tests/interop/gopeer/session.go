package main

// Session commands: real kcp-go 5.6.1 sessions (ListenWithOptions / DialWithOptions) with the
// kcptun-style options pykcp's Config has, for live echo tests against pykcp.aio.
//
//   serve:  listen, print "LISTEN host:port", echo every accepted session; a session ends after
//           -idle without data; the command runs until killed (or -sessions sessions ended).
//   client: dial, write -size pseudo-random bytes in -chunk pieces while reading the echo back,
//           compare, print "OK <bytes> <sha256>".

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"time"

	kcp "github.com/xtaci/kcp-go"
	"golang.org/x/crypto/pbkdf2"
)

type sessionFlags struct {
	crypt                         *string
	key                           *string
	ds, ps                        *int
	nodelay, interval, resend, nc *int
	sndwnd, rcvwnd, mtu           *int
	ackNoDelay, writeDelay        *bool
}

func addSessionFlags(fs *flag.FlagSet) sessionFlags {
	return sessionFlags{
		crypt:      fs.String("crypt", "null", "kcptun cipher name (null = no crypto layer)"),
		key:        fs.String("key", "", "kcptun password (PBKDF2-SHA1, salt kcp-go, 4096, 32 bytes)"),
		ds:         fs.Int("ds", 0, "FEC data shards"),
		ps:         fs.Int("ps", 0, "FEC parity shards"),
		nodelay:    fs.Int("nodelay", 1, "SetNoDelay nodelay"),
		interval:   fs.Int("interval", 20, "SetNoDelay interval"),
		resend:     fs.Int("resend", 2, "SetNoDelay resend"),
		nc:         fs.Int("nc", 1, "SetNoDelay nc"),
		sndwnd:     fs.Int("sndwnd", 1024, "send window"),
		rcvwnd:     fs.Int("rcvwnd", 1024, "receive window"),
		mtu:        fs.Int("mtu", 1400, "MTU"),
		ackNoDelay: fs.Bool("acknodelay", false, "SetACKNoDelay"),
		writeDelay: fs.Bool("writedelay", false, "SetWriteDelay"),
	}
}

func (f sessionFlags) block() (kcp.BlockCrypt, error) {
	// kcptun derives every cipher key from the password the same way.
	pass := pbkdf2.Key([]byte(*f.key), []byte("kcp-go"), 4096, 32, sha1.New)
	return newBlockCrypt(*f.crypt, pass)
}

func (f sessionFlags) apply(sess *kcp.UDPSession) {
	sess.SetStreamMode(true)
	sess.SetWriteDelay(*f.writeDelay)
	sess.SetNoDelay(*f.nodelay, *f.interval, *f.resend, *f.nc)
	sess.SetWindowSize(*f.sndwnd, *f.rcvwnd)
	sess.SetMtu(*f.mtu)
	sess.SetACKNoDelay(*f.ackNoDelay)
}

func sessionServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "UDP address to listen on")
	idle := fs.Duration("idle", 5*time.Second, "end a session after this long without data")
	sessions := fs.Int("sessions", 0, "exit after this many sessions ended (0: run until killed)")
	sf := addSessionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	block, err := sf.block()
	if err != nil {
		return err
	}
	l, err := kcp.ListenWithOptions(*listen, block, *sf.ds, *sf.ps)
	if err != nil {
		return err
	}
	defer l.Close()
	_ = l.SetReadBuffer(4 << 20)
	_ = l.SetWriteBuffer(4 << 20)
	fmt.Println("LISTEN", l.Addr().String())
	var wg sync.WaitGroup
	ended := make(chan struct{}, 1024)
	go func() {
		for {
			sess, err := l.AcceptKCP()
			if err != nil {
				return
			}
			sf.apply(sess)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sess.Close()
				buf := make([]byte, 65536)
				total := 0
				for {
					_ = sess.SetReadDeadline(time.Now().Add(*idle))
					n, err := sess.Read(buf)
					if err != nil {
						break
					}
					total += n
					if _, err := sess.Write(buf[:n]); err != nil {
						break
					}
				}
				fmt.Println("ENDED", sess.GetConv(), total)
				ended <- struct{}{}
			}()
		}
	}()
	if *sessions <= 0 {
		select {}
	}
	for i := 0; i < *sessions; i++ {
		<-ended
	}
	return nil
}

func sessionClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the pykcp server")
	size := fs.Int("size", 1<<20, "bytes to send and expect back")
	chunk := fs.Int("chunk", 32768, "bytes per Write")
	seed := fs.Int64("seed", 1, "payload seed")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	sf := addSessionFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	block, err := sf.block()
	if err != nil {
		return err
	}
	sess, err := kcp.DialWithOptions(*addr, block, *sf.ds, *sf.ps)
	if err != nil {
		return err
	}
	defer sess.Close()
	sf.apply(sess)
	_ = sess.SetReadBuffer(4 << 20)
	_ = sess.SetWriteBuffer(4 << 20)
	_ = sess.SetDeadline(time.Now().Add(*timeout))

	payload := make([]byte, *size)
	rand.New(rand.NewSource(*seed)).Read(payload)
	writeErr := make(chan error, 1)
	go func() {
		for off := 0; off < len(payload); off += *chunk {
			end := off + *chunk
			if end > len(payload) {
				end = len(payload)
			}
			if _, err := sess.Write(payload[off:end]); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	echoed := make([]byte, len(payload))
	if _, err := io.ReadFull(sess, echoed); err != nil {
		return fmt.Errorf("reading the echo: %v", err)
	}
	if err := <-writeErr; err != nil {
		return err
	}
	if !bytes.Equal(echoed, payload) {
		return fmt.Errorf("echo differs from what was sent")
	}
	fmt.Printf("OK %d %x\n", len(payload), sha256.Sum256(payload))
	return nil
}

func init() {
	register("serve", "kcp-go listener echoing every session (kcptun options)", sessionServe)
	register("client", "kcp-go client: send -size bytes, verify the echo", sessionClient)
}
