package mapper

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// streamConn is a connection the stream relay copies through: a
// *net.TCPConn or a *tls.Conn over one.
type streamConn interface {
	net.Conn
	CloseWrite() error
}

// streamBufSize is the buffer of each direction of the stream relay:
// one TLS record's worth of plaintext.
const streamBufSize = 16 << 10

// relayStream is Relay for connections of which one at least is TLS
// (terminated or originated here), so that bytes pass through user
// space: the same timeouts, half-closes (a TLS close_notify, then the
// TCP FIN) and resets, with a buffer per direction.
func relayStream(ctx context.Context, client, upstream streamConn, cfg *RelayConfig) Stats {
	return runRelay(ctx, client, upstream, cfg, func(r *relay, up bool) int64 {
		if up {
			return r.copyStream(upstream, client, true)
		}
		return r.copyStream(client, upstream, false)
	})
}

// copyStream moves src → dst until EOF or an error, as relay.copy.
func (r *relay) copyStream(dst, src streamConn, up bool) int64 {
	var total int64
	buf := make([]byte, streamBufSize)
	for {
		r.deadline(src)
		n, err := src.Read(buf)
		if n > 0 {
			if r.idle > 0 {
				dst.SetWriteDeadline(time.Now().Add(r.idle))
			}
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			r.last.Store(time.Now().UnixNano())
			if r.prog != nil {
				if up {
					r.prog(int64(w), 0)
				} else {
					r.prog(0, int64(w))
				}
			}
			if werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil {
			continue
		}
		if isEOF(err) {
			closeWrite(dst)
			r.finished(dst)
			return total
		}
		if isTimeout(err) {
			r.mu.Lock()
			finAt := r.finAt
			r.mu.Unlock()
			now := time.Now()
			if !finAt.IsZero() && !now.Before(finAt) {
				r.setReason(ReasonFinTimeout, nil)
			} else if r.idle > 0 && now.Sub(time.Unix(0, r.last.Load())) < r.idle {
				continue
			} else {
				r.setReason(ReasonIdle, nil)
			}
		} else {
			r.setReason(ReasonReset, err)
			resetOnClose(src)
			resetOnClose(dst)
		}
		src.Close()
		dst.Close()
		return total
	}
}

// closeWrite half-closes c: for TLS, close_notify then the TCP FIN (a
// tls.Conn's CloseWrite sends only the alert).
func closeWrite(c streamConn) {
	c.CloseWrite()
	if tc, ok := c.(*tls.Conn); ok {
		if t, ok := tc.NetConn().(interface{ CloseWrite() error }); ok {
			t.CloseWrite()
		}
	}
}

// resetOnClose makes closing c send a reset (SO_LINGER 0).
func resetOnClose(c streamConn) {
	var nc net.Conn = c
	if tc, ok := c.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if t, ok := nc.(interface{ SetLinger(int) error }); ok {
		t.SetLinger(0)
	}
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
