package main

// FEC interop commands. kcp-go 5.6.1 does not export its FEC encoder/decoder, so both commands
// drive a real kcp-go session without encryption: its datagrams are the bare FEC packets.
//
//   fec-send: a kcp-go client with FEC sends -count messages to -addr (the Python test, which
//             captures the FEC stream and decodes it with pykcp, withholding packets).
//   fec-recv: a kcp-go listener with FEC (or without: it then autotunes) prints the messages
//             it reads; the Python test sends it pykcp-encoded FEC packets with data packets
//             withheld, so the withheld messages can only arrive through kcp-go's FEC decoder.

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"time"

	kcp "github.com/xtaci/kcp-go"
)

// fecMessage is message i of the fec-send stream: varying lengths so shards need padding.
func fecMessage(i int) []byte {
	msg := make([]byte, 16+(i*53)%300)
	for j := range msg {
		msg[j] = byte(i*7 + j)
	}
	return msg
}

func init() {
	register("fec-send", "kcp-go client with FEC: send -count messages to -addr", func(args []string) error {
		fs := flag.NewFlagSet("fec-send", flag.ContinueOnError)
		addr := fs.String("addr", "", "host:port of the receiver")
		ds := fs.Int("ds", 10, "data shards")
		ps := fs.Int("ps", 3, "parity shards")
		count := fs.Int("count", 30, "messages to send (<= 32: no ACKs will come back)")
		linger := fs.Duration("linger", 300*time.Millisecond, "time to let the sender flush")
		if err := fs.Parse(args); err != nil {
			return err
		}
		sess, err := kcp.DialWithOptions(*addr, nil, *ds, *ps)
		if err != nil {
			return err
		}
		defer sess.Close()
		// No congestion window (nothing will be acked) and a long RTO: one datagram per
		// Write and no retransmission while the receiver captures.
		sess.SetNoDelay(0, 40, 0, 1)
		sess.SetWriteDelay(false)
		for i := 0; i < *count; i++ {
			if _, err := sess.Write(fecMessage(i)); err != nil {
				return err
			}
		}
		time.Sleep(*linger)
		fmt.Println("SENT", *count)
		return nil
	})

	register("fec-recv", "kcp-go listener (FEC -ds/-ps, 0 0 = none): print -count messages read", func(args []string) error {
		fs := flag.NewFlagSet("fec-recv", flag.ContinueOnError)
		ds := fs.Int("ds", 10, "data shards (0 with -ps 0: no FEC, the decoder autotunes)")
		ps := fs.Int("ps", 3, "parity shards")
		count := fs.Int("count", 1, "messages to read before exiting")
		timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
		if err := fs.Parse(args); err != nil {
			return err
		}
		l, err := kcp.ListenWithOptions("127.0.0.1:0", nil, *ds, *ps)
		if err != nil {
			return err
		}
		defer l.Close()
		fmt.Println("ADDR", l.Addr().String())
		deadline := time.Now().Add(*timeout)
		if err := l.SetDeadline(deadline); err != nil {
			return err
		}
		sess, err := l.AcceptKCP()
		if err != nil {
			return err
		}
		defer sess.Close()
		if err := sess.SetReadDeadline(deadline); err != nil {
			return err
		}
		buf := make([]byte, 65536)
		for i := 0; i < *count; i++ {
			n, err := sess.Read(buf)
			if err != nil {
				fmt.Println("ERROR", err)
				break
			}
			fmt.Println("MSG", hex.EncodeToString(buf[:n]))
		}
		snmp := kcp.DefaultSnmp.Copy()
		fmt.Printf("SNMP FECRecovered=%d FECErrs=%d FECParityShards=%d FECShortShards=%d\n",
			snmp.FECRecovered, snmp.FECErrs, snmp.FECParityShards, snmp.FECShortShards)
		os.Stdout.Sync()
		return nil
	})
}
