package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	kcp "github.com/xtaci/kcp-go"
)

// kcp-echo: a kcp-go 5.6.1 listener without crypto or FEC, so its datagrams are bare KCP
// segments that pykcp's ARQ core can talk to directly. It echoes -bytes bytes back, prints
// "DONE n", then keeps the session alive (so its last segments still get retransmitted)
// until stdin closes.
func kcpEcho(args []string) error {
	fs := flag.NewFlagSet("kcp-echo", flag.ContinueOnError)
	total := fs.Int("bytes", 0, "bytes to echo before reporting DONE")
	mode := fs.String("mode", "fast", "default (kcp-go defaults) or fast (NoDelay 1,10,2,1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := kcp.ListenWithOptions("127.0.0.1:0", nil, 0, 0)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	if err := ln.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	sess, err := ln.AcceptKCP()
	if err != nil {
		return err
	}
	defer sess.Close()
	if *mode == "fast" {
		sess.SetNoDelay(1, 10, 2, 1)
	}
	sess.SetWindowSize(128, 128)
	if err := sess.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	echoed := 0
	for echoed < *total {
		n, err := sess.Read(buf)
		if err != nil {
			return err
		}
		if _, err := sess.Write(buf[:n]); err != nil {
			return err
		}
		echoed += n
	}
	fmt.Printf("DONE %d conv=%d\n", echoed, sess.GetConv())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func init() {
	register("kcp-echo", "kcp-go listener, no crypto/FEC: echo -bytes bytes, wait for stdin EOF", kcpEcho)
}
