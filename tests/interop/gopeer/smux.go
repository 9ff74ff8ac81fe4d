package main

// smux subcommands: real xtaci/smux (Debian golang-github-xtaci-smux-dev 1.5.16, the version
// kcptun 20210922 uses) over a plain TCP connection to or from pykcp.smux.

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

type smuxFlags struct {
	version          *int
	keepAlive        *int
	keepAliveTimeout *int
	frameSize        *int
	streamBuffer     *int
}

func addSmuxFlags(fs *flag.FlagSet) smuxFlags {
	return smuxFlags{
		version:          fs.Int("version", 1, "smux protocol version (1 or 2)"),
		keepAlive:        fs.Int("keepalive", 10000, "keepalive interval in ms, 0 disables keepalive"),
		keepAliveTimeout: fs.Int("keepalive-timeout", 30000, "keepalive timeout in ms"),
		frameSize:        fs.Int("frame", 32768, "MaxFrameSize"),
		streamBuffer:     fs.Int("stream-buffer", 65536, "MaxStreamBuffer"),
	}
}

func (f smuxFlags) config() *smux.Config {
	cfg := smux.DefaultConfig()
	cfg.Version = *f.version
	if *f.keepAlive == 0 {
		cfg.KeepAliveDisabled = true
	} else {
		cfg.KeepAliveInterval = time.Duration(*f.keepAlive) * time.Millisecond
		cfg.KeepAliveTimeout = time.Duration(*f.keepAliveTimeout) * time.Millisecond
	}
	cfg.MaxFrameSize = *f.frameSize
	cfg.MaxStreamBuffer = *f.streamBuffer
	return cfg
}

// smuxServe answers one stream: "echo" copies it back, "drop" closes it after one byte,
// "digest" reads it to EOF (the peer's FIN) and answers with its SHA-256 (half-close).
func smuxServe(st *smux.Stream, mode string) {
	defer st.Close()
	switch mode {
	case "echo":
		_, _ = io.Copy(st, st)
	case "drop":
		_, _ = st.Read(make([]byte, 1))
	case "digest":
		h := sha256.New()
		// smux's WriteTo reports the FIN as io.EOF rather than nil.
		if _, err := io.Copy(h, st); err == nil || err == io.EOF {
			_, _ = st.Write(h.Sum(nil))
		}
	}
}

func init() {
	register("smux-server", "accept one TCP connection, serve smux streams (echo|drop|digest)", func(args []string) error {
		fs := flag.NewFlagSet("smux-server", flag.ContinueOnError)
		listen := fs.String("listen", "127.0.0.1:0", "TCP address to listen on")
		mode := fs.String("mode", "echo", "echo, drop or digest")
		sf := addSmuxFlags(fs)
		if err := fs.Parse(args); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		fmt.Println(ln.Addr().String())
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return err
		}
		sess, err := smux.Server(conn, sf.config())
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		served := 0
		var acceptErr error
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				acceptErr = err
				break
			}
			served++
			wg.Add(1)
			go func() {
				defer wg.Done()
				smuxServe(st, *mode)
			}()
		}
		wg.Wait()
		sess.Close()
		fmt.Println("served", served, "ended:", acceptErr)
		return nil
	})

	register("smux-client", "dial TCP, open smux streams, check the peer echoes them", func(args []string) error {
		fs := flag.NewFlagSet("smux-client", flag.ContinueOnError)
		connect := fs.String("connect", "", "TCP address of the pykcp smux server")
		streams := fs.Int("streams", 10, "streams to open concurrently")
		size := fs.Int("size", 100000, "most bytes sent on a stream (each sends size/2 to size)")
		idle := fs.Int("idle", 0, "ms to stay idle before opening streams")
		sf := addSmuxFlags(fs)
		if err := fs.Parse(args); err != nil {
			return err
		}
		conn, err := net.Dial("tcp", *connect)
		if err != nil {
			return err
		}
		sess, err := smux.Client(conn, sf.config())
		if err != nil {
			return err
		}
		defer sess.Close()
		time.Sleep(time.Duration(*idle) * time.Millisecond)
		if sess.IsClosed() {
			return fmt.Errorf("session closed while idle")
		}
		errs := make(chan error, *streams)
		for i := 0; i < *streams; i++ {
			go func(i int) { errs <- smuxEchoOnce(sess, i, *size) }(i)
		}
		for i := 0; i < *streams; i++ {
			if err := <-errs; err != nil {
				return err
			}
		}
		fmt.Println("ok", *streams)
		// Leave the connection gracefully. Every stream is done here, but the pykcp side may
		// still be sending the FINs that answer ours: closing now, with those unread, makes
		// our kernel answer with a RST, and once its next write fails pykcp's socket
		// transport drops the bytes it has not read yet (asyncio stops reading a transport
		// whose write failed) - among them our last FINs, so streams we had finished would
		// fail on its side. Half-close instead, and wait until pykcp has read everything
		// and closed the session (AcceptStream then returns the read error).
		if tcp, ok := conn.(*net.TCPConn); ok {
			if err := tcp.CloseWrite(); err == nil {
				_ = sess.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = sess.AcceptStream()
			}
		}
		return nil
	})
}

func smuxEchoOnce(sess *smux.Session, index, size int) error {
	st, err := sess.OpenStream()
	if err != nil {
		return err
	}
	defer st.Close()
	rng := rand.New(rand.NewSource(int64(index)))
	data := make([]byte, size/2+rng.Intn(size/2+1))
	rng.Read(data)
	written := make(chan error, 1)
	go func() {
		_, err := st.Write(data)
		written <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(st, got); err != nil {
		return fmt.Errorf("stream %d: reading the echo: %v", st.ID(), err)
	}
	if err := <-written; err != nil {
		return fmt.Errorf("stream %d: writing: %v", st.ID(), err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("stream %d: echo differs", st.ID())
	}
	return nil
}
