package main

// Packet encryption commands: kcp-go 5.6.1 seals and opens datagrams so the Python tests can
// check pykcp.packet against it in both directions.
//
//   crypt-seal  -cipher NAME -key HEX   stdin: hex payload per line  -> stdout: hex datagram
//   crypt-open  -cipher NAME -key HEX   stdin: hex datagram per line -> stdout: hex payload or DROP
//   crypt-session-send -cipher NAME -key HEX -conv N
//                                       a real UDPSession over a recording PacketConn writes each
//                                       stdin message (hex); stdout: the datagrams it sent (hex)
//   crypt-session-recv -cipher NAME -key HEX -conv N -count K
//                                       a real UDPSession reads the stdin datagrams (hex) from its
//                                       PacketConn; stdout: the K messages Read returned (hex)
//
// NAME is a kcptun name; KEY is given to kcp-go's constructor as is (no truncation here, so
// odd key sizes can be tested), except "null" which means no BlockCrypt.
// crypt-seal/crypt-open repeat UDPSession.output/packetInput's crypto steps (sess.go) with
// kcp-go's own BlockCrypt; the session commands go through UDPSession itself.

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	kcp "github.com/xtaci/kcp-go"
)

const (
	cryptNonceSize  = 16
	cryptHeaderSize = 20
)

func newBlockCrypt(name string, key []byte) (kcp.BlockCrypt, error) {
	switch name {
	case "null":
		return nil, nil
	case "none":
		return kcp.NewNoneBlockCrypt(key)
	case "aes", "aes-128", "aes-192":
		return kcp.NewAESBlockCrypt(key)
	case "salsa20":
		return kcp.NewSalsa20BlockCrypt(key)
	case "blowfish":
		return kcp.NewBlowfishBlockCrypt(key)
	case "twofish":
		return kcp.NewTwofishBlockCrypt(key)
	case "cast5":
		return kcp.NewCast5BlockCrypt(key)
	case "3des":
		return kcp.NewTripleDESBlockCrypt(key)
	case "tea":
		return kcp.NewTEABlockCrypt(key)
	case "xtea":
		return kcp.NewXTEABlockCrypt(key)
	case "xor":
		return kcp.NewSimpleXORBlockCrypt(key)
	case "sm4":
		return kcp.NewSM4BlockCrypt(key)
	}
	return nil, fmt.Errorf("unknown cipher %q", name)
}

type cryptFlags struct {
	fs     *flag.FlagSet
	cipher *string
	key    *string
}

func newCryptFlags(name string) cryptFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return cryptFlags{fs: fs, cipher: fs.String("cipher", "aes", "kcptun cipher name"),
		key: fs.String("key", "", "key bytes, hex")}
}

func (c cryptFlags) block() (kcp.BlockCrypt, error) {
	key, err := hex.DecodeString(*c.key)
	if err != nil {
		return nil, err
	}
	return newBlockCrypt(*c.cipher, key)
}

// eachHexLine calls f with every stdin line, hex-decoded.
func eachHexLine(f func([]byte) error) error {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<16), 1<<20)
	for scanner.Scan() {
		// An empty line is an empty payload, not something to skip.
		data, err := hex.DecodeString(strings.TrimSpace(scanner.Text()))
		if err != nil {
			return err
		}
		if err := f(data); err != nil {
			return err
		}
	}
	return scanner.Err()
}

func cryptSeal(args []string) error {
	flags := newCryptFlags("crypt-seal")
	if err := flags.fs.Parse(args); err != nil {
		return err
	}
	block, err := flags.block()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	return eachHexLine(func(payload []byte) error {
		if block == nil {
			fmt.Fprintln(out, hex.EncodeToString(payload))
			return nil
		}
		buf := make([]byte, cryptHeaderSize+len(payload))
		copy(buf[cryptHeaderSize:], payload)
		if _, err := io.ReadFull(rand.Reader, buf[:cryptNonceSize]); err != nil {
			return err
		}
		binary.LittleEndian.PutUint32(buf[cryptNonceSize:], crc32.ChecksumIEEE(buf[cryptHeaderSize:]))
		block.Encrypt(buf, buf)
		fmt.Fprintln(out, hex.EncodeToString(buf))
		return nil
	})
}

func cryptOpen(args []string) error {
	flags := newCryptFlags("crypt-open")
	if err := flags.fs.Parse(args); err != nil {
		return err
	}
	block, err := flags.block()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	return eachHexLine(func(data []byte) error {
		if block == nil {
			fmt.Fprintln(out, hex.EncodeToString(data))
			return nil
		}
		if len(data) < cryptHeaderSize {
			fmt.Fprintln(out, "DROP")
			return nil
		}
		block.Decrypt(data, data)
		if crc32.ChecksumIEEE(data[cryptHeaderSize:]) != binary.LittleEndian.Uint32(data[cryptNonceSize:]) {
			fmt.Fprintln(out, "DROP")
			return nil
		}
		fmt.Fprintln(out, hex.EncodeToString(data[cryptHeaderSize:]))
		return nil
	})
}

// pipeConn is a net.PacketConn that records what the session writes and serves queued
// datagrams to its reads, so a real UDPSession runs without a socket.
type pipeConn struct {
	mu      sync.Mutex
	written [][]byte
	inbox   chan []byte
	closed  chan struct{}
	once    sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe:0" }

func newPipeConn() *pipeConn {
	return &pipeConn{inbox: make(chan []byte, 1024), closed: make(chan struct{})}
}

func (c *pipeConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case data := <-c.inbox:
		return copy(p, data), pipeAddr{}, nil
	case <-c.closed:
		return 0, nil, errors.New("closed")
	}
}

func (c *pipeConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, append([]byte(nil), p...))
	return len(p), nil
}

func (c *pipeConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.written)
}

func (c *pipeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

func cryptSessionSend(args []string) error {
	flags := newCryptFlags("crypt-session-send")
	conv := flags.fs.Uint("conv", 1, "conversation id")
	if err := flags.fs.Parse(args); err != nil {
		return err
	}
	block, err := flags.block()
	if err != nil {
		return err
	}
	conn := newPipeConn()
	sess, err := kcp.NewConn3(uint32(*conv), pipeAddr{}, block, 0, 0, conn)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := eachHexLine(func(msg []byte) error {
		_, err := sess.Write(msg)
		return err
	}); err != nil {
		return err
	}
	// KCP's first flush only opens the congestion window; the session's timer (interval
	// 100 ms) sends. Wait for output, then a little longer for the rest of it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && conn.count() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, datagram := range conn.written {
		fmt.Fprintln(out, hex.EncodeToString(datagram))
	}
	return nil
}

func cryptSessionRecv(args []string) error {
	flags := newCryptFlags("crypt-session-recv")
	conv := flags.fs.Uint("conv", 1, "conversation id")
	count := flags.fs.Int("count", 1, "messages to read")
	if err := flags.fs.Parse(args); err != nil {
		return err
	}
	block, err := flags.block()
	if err != nil {
		return err
	}
	conn := newPipeConn()
	sess, err := kcp.NewConn3(uint32(*conv), pipeAddr{}, block, 0, 0, conn)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := eachHexLine(func(datagram []byte) error {
		conn.inbox <- datagram
		return nil
	}); err != nil {
		return err
	}
	if err := sess.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	buf := make([]byte, 65536)
	for i := 0; i < *count; i++ {
		n, err := sess.Read(buf)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, hex.EncodeToString(buf[:n]))
	}
	return nil
}

func init() {
	register("crypt-seal", "kcp-go frames+encrypts hex payloads (stdin) into datagrams", cryptSeal)
	register("crypt-open", "kcp-go decrypts+checks hex datagrams (stdin), DROP on failure", cryptOpen)
	register("crypt-session-send", "a real UDPSession writes hex messages; prints its datagrams",
		cryptSessionSend)
	register("crypt-session-recv", "a real UDPSession reads hex datagrams; prints what Read returns",
		cryptSessionRecv)
}
