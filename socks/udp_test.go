package socks_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/socks"
)

// logWatch is a slog handler that passes record messages to a channel,
// so a test can wait for the server to have dropped a datagram.
type logWatch chan string

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case w <- r.Message:
	default:
	}
	return nil
}
func (w logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w logWatch) WithGroup(string) slog.Handler      { return w }

func (w logWatch) waitFor(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(hangGuard)
	for {
		select {
		case m := <-w:
			if strings.Contains(m, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line containing %q", substr)
		}
	}
}

// udpEcho answers every datagram with "echo:" and the datagram, and
// records what it received.
type udpEcho struct {
	addr netip.AddrPort
	mu   sync.Mutex
	seen []string
	from netip.AddrPort // source of the last datagram
}

func startEcho(t *testing.T) *udpEcho {
	c, addr := porttest.ListenUDP(t)
	e := &udpEcho{addr: addr}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.seen = append(e.seen, string(buf[:n]))
			e.from = from
			e.mu.Unlock()
			c.WriteToUDPAddrPort(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return e
}

func (e *udpEcho) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}

// sendUDP sends payload to dst through the relay with a SOCKS5 UDP
// header.
func sendUDP(t *testing.T, c *net.UDPConn, relay netip.AddrPort, frag byte, dst netip.AddrPort, payload string) {
	t.Helper()
	a := dst.Addr().As4()
	b := append([]byte{0, 0, frag, 1}, a[:]...)
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	if _, err := c.WriteToUDPAddrPort(append(b, payload...), relay); err != nil {
		t.Fatal(err)
	}
}

func recvUDP(t *testing.T, c *net.UDPConn) (netip.AddrPort, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram back: %v", err)
	}
	b := buf[:n]
	if n < 10 || b[0] != 0 || b[1] != 0 || b[2] != 0 || b[3] != 1 {
		t.Fatalf("reply header % x", b)
	}
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[8:10]))
	return src, string(b[10:])
}

func TestUDPAssociate(t *testing.T) {
	echo := startEcho(t)
	denied := startEcho(t)
	logs := make(logWatch, 100)
	s := &socks.Server{UDP: true, Auth: socks.StaticAuth("u", "p"), Logger: slog.New(logs),
		CheckUDP: func(ap netip.AddrPort) error {
			if ap == denied.addr {
				return &net.AddrError{Err: "denied by test", Addr: ap.String()}
			}
			return loopbackPolicy.Check(ap.Addr())
		}}
	ts := start(t, s)
	client, clientAddr := porttest.ListenUDP(t)
	other, _ := porttest.ListenUDP(t)
	c := dialSOCKS5(t, ts.Addr, "u", "p")
	rep, relay := request(t, c, 3, clientAddr)
	if rep != 0 || !relay.Addr().IsLoopback() {
		t.Fatalf("UDP ASSOCIATE reply 0x%02x, relay %s", rep, relay)
	}

	sendUDP(t, other, relay, 0, echo.addr, "from another port")
	logs.waitFor(t, "dropped datagram from another port")
	sendUDP(t, client, relay, 1, echo.addr, "fragment")
	logs.waitFor(t, "dropped fragment")
	sendUDP(t, client, relay, 0, denied.addr, "to a denied destination")
	logs.waitFor(t, "dropped datagram")
	sendUDP(t, client, relay, 0, echo.addr, "good")
	src, payload := recvUDP(t, client)
	if src != echo.addr || payload != "echo:good" {
		t.Fatalf("reply from %s: %q", src, payload)
	}
	if got := echo.received(); len(got) != 1 || got[0] != "good" {
		t.Fatalf("echo server received %q, want only \"good\"", got)
	}
	if got := denied.received(); len(got) != 0 {
		t.Fatalf("denied destination received %q", got)
	}
	// A datagram to the association's outbound socket from an address
	// the client never sent to is not passed back.
	echo.mu.Lock()
	outbound := echo.from
	echo.mu.Unlock()
	if _, err := other.WriteToUDPAddrPort([]byte("unsolicited"), outbound); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "dropped reply from an address the client did not send to")
	sendUDP(t, client, relay, 0, echo.addr, "again")
	if src, payload := recvUDP(t, client); src != echo.addr || payload != "echo:again" {
		t.Fatalf("second reply from %s: %q (the unsolicited datagram must not come first)", src, payload)
	}

	// The association ends with its control connection, and the relay
	// port is released.
	c.Close()
	if err := ts.Result(t); err != nil {
		t.Fatalf("association ended with %v, want nil", err)
	}
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(relay))
	if err != nil {
		t.Fatalf("relay port still bound after the association: %v", err)
	}
	pc.Close()
}

func TestUDPAssociateOtherAddressAndDefaultPolicy(t *testing.T) {
	echo := startEcho(t)
	logs := make(logWatch, 100)
	ts := start(t, &socks.Server{UDP: true, Logger: slog.New(logs)}) // nil CheckUDP: zero acl.Policy
	client, _ := porttest.ListenUDP(t)
	// 127.0.0.2 is another source address than the control connection's.
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	c := dialSOCKS5(t, ts.Addr, "", "")
	// Port 0: the client does not say which port it sends from; the
	// first datagram locks it.
	rep, relay := request(t, c, 3, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	if rep != 0 {
		t.Fatalf("reply 0x%02x", rep)
	}
	sendUDP(t, stranger, relay, 0, echo.addr, "stranger")
	logs.waitFor(t, "dropped datagram from another address")
	sendUDP(t, client, relay, 0, echo.addr, "to loopback")
	logs.waitFor(t, "dropped datagram")
	if got := echo.received(); len(got) != 0 {
		t.Fatalf("echo received %q through the default policy", got)
	}
	c.Close()
	if err := ts.Result(t); err != nil {
		t.Fatal(err)
	}
}

func TestUDPAssociateDomain(t *testing.T) {
	// A domain destination is resolved by the server, and the check sees
	// the address it resolved to.
	logs := make(logWatch, 100)
	checked := make(chan netip.AddrPort, 1)
	ts := start(t, &socks.Server{UDP: true, Logger: slog.New(logs), CheckUDP: func(ap netip.AddrPort) error {
		checked <- ap
		return &net.AddrError{Err: "test denies everything", Addr: ap.String()}
	}})
	client, clientAddr := porttest.ListenUDP(t)
	c := dialSOCKS5(t, ts.Addr, "", "")
	rep, relay := request(t, c, 3, clientAddr)
	if rep != 0 {
		t.Fatalf("reply 0x%02x", rep)
	}
	b := append([]byte{0, 0, 0, 3, 9}, "localhost"...)
	b = append(b, 0x30, 0x39) // port 12345
	if _, err := client.WriteToUDPAddrPort(append(b, "x"...), relay); err != nil {
		t.Fatal(err)
	}
	select {
	case ap := <-checked:
		if !ap.Addr().IsLoopback() || ap.Port() != 12345 {
			t.Fatalf("checked %s, want a loopback address and port 12345", ap)
		}
	case <-time.After(hangGuard):
		t.Fatal("the destination was never checked")
	}
	logs.waitFor(t, "dropped datagram")
}

func TestUDPAssociationIdleAndCancel(t *testing.T) {
	// An association with no datagram for UDPIdleTimeout ends though its
	// control connection stays open, and the control connection is
	// then left for the caller to close.
	ts := start(t, &socks.Server{UDP: true, UDPIdleTimeout: 200 * time.Millisecond})
	c := dialSOCKS5(t, ts.Addr, "", "")
	if rep, _ := request(t, c, 3, netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); rep != 0 {
		t.Fatalf("reply 0x%02x", rep)
	}
	if err := ts.Result(t); err != nil {
		t.Fatalf("idle association: %v", err)
	}

	// Cancelling the caller's ctx ends it too.
	l, addr := porttest.ListenTCP(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		sc, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer sc.Close()
		_, err = (&socks.Server{UDP: true}).Handshake(ctx, sc)
		done <- err
	}()
	c = dialSOCKS5(t, addr, "", "")
	if rep, _ := request(t, c, 3, netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); rep != 0 {
		t.Fatalf("reply 0x%02x", rep)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled association: %v", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("cancel did not end the association")
	}
}
