package spa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxTCPClients bounds the connections ServeTCP reads from at once; one
// more is closed unread (fwknop sends its packet and closes, so a client
// holding a connection open is not fwknop).
const MaxTCPClients = 64

// TCPReadTimeout is how long ServeTCP waits for a client's packet.
const TCPReadTimeout = 5 * time.Second

// maxTCPRead bounds what is read from one connection: a packet, or an
// HTTP request carrying one.
const maxTCPRead = 4096

// ServeTCP accepts connections on ln until ctx ends, reads one SPA
// packet from each and handles it as Serve does, never answering: the
// packet as fwknop -P tcp sends it, or an HTTP request as fwknop -P http
// sends it ("GET /PACKET HTTP/1.0", '-' and '_' for '+' and '/', a
// User-Agent starting with "Fwknop", as fwknopd requires). It closes ln
// when ctx ends.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, MaxTCPClients)
	var lastFull atomic.Int64
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if isTemporary(err) { // EMFILE and the like: wait, do not spin
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			// Full: one log line a second at most, so that a flood does
			// not flood the log.
			if now := time.Now().Unix(); lastFull.Swap(now) != now {
				s.log.Warn(fmt.Sprintf("%s: SPA over TCP: %d connections already being read: closed unread", c.RemoteAddr(), MaxTCPClients))
			}
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.handleConn(ctx, c)
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) handleConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	var dst netip.Addr
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		dst = ta.AddrPort().Addr()
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetReadDeadline(time.Now().Add(TCPReadTimeout))
	buf := make([]byte, 0, maxTCPRead)
	for len(buf) < maxTCPRead {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if bytes.HasPrefix(buf, []byte("GET /")) && bytes.Contains(buf, []byte("\r\n\r\n")) {
			break // a whole HTTP request
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && len(buf) == 0 {
				return // nothing sent: no packet, no line
			}
			break
		}
	}
	pkt, err := tcpPayload(buf)
	if err != nil {
		s.log.Warn(fmt.Sprintf("%s: SPA packet over TCP rejected: %v", src.Addr(), err))
		return
	}
	s.HandleTo(pkt, src, dst)
}

// tcpPayload is the SPA packet in what a TCP client sent: the bytes
// themselves, or the path of fwknop's HTTP request.
func tcpPayload(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte("GET /")) {
		return bytes.TrimSpace(b), nil
	}
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	path, _, ok := strings.Cut(strings.TrimPrefix(lines[0], "GET /"), " ")
	if !ok {
		return nil, fmt.Errorf("%w: HTTP request line %q", ErrFormat, truncate(lines[0]))
	}
	agent := false
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(strings.TrimSpace(k), "User-Agent") && strings.HasPrefix(strings.TrimSpace(v), "Fwknop") {
			agent = true
		}
	}
	if !agent {
		return nil, fmt.Errorf("%w: an HTTP request without fwknop's User-Agent", ErrFormat)
	}
	return []byte(strings.NewReplacer("-", "+", "_", "/").Replace(path)), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ListenAndServeTCP is ListenAndServe for fwknop's TCP and HTTP
// transports (see ServeTCP).
func (s *Server) ListenAndServeTCP(ctx context.Context, addrs []netip.AddrPort, listening func(netip.AddrPort)) error {
	var lc net.ListenConfig
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4"
		if a.Addr().Is6() {
			network = "tcp6"
		}
		ln, err := lc.Listen(ctx, network, a.String())
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
		if listening != nil {
			listening(a)
		}
	}
	errs := make(chan error, len(lns))
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, ln := range lns {
		go func() { errs <- s.ServeTCP(gctx, ln) }()
	}
	err := <-errs
	cancel()
	for range len(lns) - 1 {
		<-errs
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
