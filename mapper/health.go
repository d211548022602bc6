package mapper

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Check is the kind of active health check of a mapping's destinations.
type Check uint8

// Health checks.
const (
	CheckNone Check = iota // no active check: a failed dial skips the destination for DownTime
	CheckTCP               // a TCP connect
	CheckHTTP              // an HTTP/1.1 GET of CheckPath answered with a status in CheckStatus (over TLS with to_tls)
	CheckTLS               // a TCP connect and a completed TLS handshake (verified as connections are with to_tls; else not)
)

func (c Check) String() string {
	switch c {
	case CheckNone:
		return "none"
	case CheckTCP:
		return "tcp"
	case CheckHTTP:
		return "http"
	case CheckTLS:
		return "tls"
	}
	return "Check(" + strconv.Itoa(int(c)) + ")"
}

// ParseCheck parses "tcp", "http", "tls" or "none" ("" is none too).
func ParseCheck(s string) (Check, error) {
	if s == "" {
		return CheckNone, nil
	}
	for _, c := range []Check{CheckNone, CheckTCP, CheckHTTP, CheckTLS} {
		if s == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown check %q (want tcp, http or tls)", s)
}

// StatusRange is a range of HTTP status codes, both ends included. The
// zero value means 200-399, as haproxy's httpchk accepts 2xx and 3xx.
type StatusRange struct{ Lo, Hi int }

// ParseStatusRange parses "200-399" or a single status "204".
func ParseStatusRange(s string) (StatusRange, error) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
		return StatusRange{}, fmt.Errorf("%q is not a status range such as \"200-399\" (100-599)", s)
	}
	return StatusRange{l, h}, nil
}

func (s StatusRange) orDefault() StatusRange {
	if s == (StatusRange{}) {
		return StatusRange{200, 399}
	}
	return s
}

func (s StatusRange) String() string {
	s = s.orDefault()
	return strconv.Itoa(s.Lo) + "-" + strconv.Itoa(s.Hi)
}

// Health check defaults, haproxy's: inter 2s, rise 2, fall 3.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultRise          = 2
	DefaultFall          = 3
)

// minCheckInterval is the shortest check interval and timeout: a
// rule's checks cannot be made a flood of the destinations.
const minCheckInterval = 10 * time.Millisecond

// maxCheckResponse bounds what an HTTP check reads of a destination's
// answer (status line and headers); the body is never read.
const maxCheckResponse = 16 << 10

// ErrCheckStatus is wrapped by the failure of an HTTP check that got a
// status outside the expected range.
var ErrCheckStatus = errors.New("unexpected status")

// healthCheck is one check of a destination: nil when it passed.
type healthCheck func(ctx context.Context, addr string) error

// checker returns the rule's health check, or nil for CheckNone.
func (rt *running) checker() healthCheck {
	r := &rt.rule
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := rt.dialTCP(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		return c, nil
	}
	switch r.Check {
	case CheckTCP:
		return func(ctx context.Context, addr string) error {
			c, err := dial(ctx, addr)
			if err != nil {
				return err
			}
			return c.Close()
		}
	case CheckHTTP:
		path := r.CheckPath
		if path == "" {
			path = "/"
		}
		want := r.CheckStatus.orDefault()
		return func(ctx context.Context, addr string) error {
			c, err := dial(ctx, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if r.ToTLS {
				tc := tls.Client(c, rt.upstreamTLS(addr, []string{"http/1.1"}))
				if err := tc.HandshakeContext(ctx); err != nil {
					return fmt.Errorf("tls handshake: %w", err)
				}
				c = tc
			}
			host := addr
			if h, p, err := net.SplitHostPort(addr); err == nil && (p == "80" || p == "443") {
				host = h
			}
			req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: ports-health-check\r\nConnection: close\r\n\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				return err
			}
			resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(c, maxCheckResponse)), nil)
			if err != nil {
				return fmt.Errorf("http response: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode < want.Lo || resp.StatusCode > want.Hi {
				return fmt.Errorf("%w %d (want %s)", ErrCheckStatus, resp.StatusCode, want)
			}
			return nil
		}
	case CheckTLS:
		return func(ctx context.Context, addr string) error {
			c, err := dial(ctx, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			cfg := checkTLSConfig(addr)
			if r.ToTLS { // the check verifies as the connections will
				cfg = rt.upstreamTLS(addr, nil)
			}
			if err := tls.Client(c, cfg).HandshakeContext(ctx); err != nil {
				return fmt.Errorf("tls handshake: %w", err)
			}
			return nil
		}
	}
	return nil
}

// healthCheckLoop checks destination i every interval until ctx ends, the
// first time after delay (checks of several destinations are spread
// over one interval, as haproxy spreads its own).
func (rt *running) healthCheckLoop(ctx context.Context, d *dests, i int, delay time.Duration, check healthCheck) {
	interval := orDefault(rt.rule.CheckInterval, DefaultCheckInterval)
	timeout := orDefault(rt.rule.CheckTimeout, interval)
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(cctx, d.addr(i))
		cancel()
		if ctx.Err() != nil {
			return
		}
		d.mark(i, err == nil, true, err)
		t.Reset(interval)
	}
}

// checkTLSConfig is the TLS of a tls check: the handshake must complete
// (TLS 1.2 or later), with the destination's host name as SNI when it
// is a name; the certificate is not verified, since the check asks
// whether the destination serves, not whether to trust it.
func checkTLSConfig(addr string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if h, _, err := net.SplitHostPort(addr); err == nil && net.ParseIP(h) == nil {
		cfg.ServerName = h
	}
	return cfg
}
