// Package control is the local control socket of a running `ports
// serve`: a Unix socket, owner-only (mode 0600, and on Linux the peer's
// uid checked against the server's, root excepted), that answers one
// JSON request per connection: the status of the rules and their
// destinations, or the drain of a destination, without a reload.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/portkit/ports/mapper"
)

// Request is one request on the socket, a JSON line.
type Request struct {
	Op    string `json:"op"`              // "status" or "drain"
	Rule  string `json:"rule,omitempty"`  // drain: the rule
	Dest  string `json:"dest,omitempty"`  // drain: the destination's HOST:PORT
	Drain bool   `json:"drain,omitempty"` // drain: true to drain, false to put back
}

// Response is the answer, a JSON line.
type Response struct {
	Version int      `json:"version"` // 1
	Error   string   `json:"error,omitempty"`
	Rules   []RuleV1 `json:"rules,omitempty"`
	Changed int      `json:"changed,omitempty"` // drain: destinations changed
}

// RuleV1 is a rule in a status answer (version 1).
type RuleV1 struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Listen  []string `json:"listen"`
	Active  int64    `json:"active"`
	Up      int64    `json:"bytes_up"`
	Down    int64    `json:"bytes_down"`
	Refused int64    `json:"refused"`
	Dests   []DestV1 `json:"destinations,omitempty"`
}

// DestV1 is a destination in a status answer (version 1).
type DestV1 struct {
	Route   string `json:"route,omitempty"`
	Addr    string `json:"addr"`
	Weight  int    `json:"weight"`
	Up      bool   `json:"up"`
	Drained bool   `json:"drained"`
	Active  int    `json:"active"`
}

// Limits of one control connection.
const (
	MaxRequest     = 4 << 10 // bytes of a request line
	RequestTimeout = 5 * time.Second
)

// ErrNotOwner is the refusal of a peer that is neither the server's
// user nor root.
var ErrNotOwner = errors.New("control socket: the peer is not the server's owner")

// Listen makes the socket at path, owner-only. A socket file left there
// by a server that is gone is replaced; any other file is an error.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another server answers on it", path)
		}
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Serve answers requests on ln for srv until ctx ends, then closes ln.
// log, if not nil, gets a line per refused peer.
func Serve(ctx context.Context, ln *net.UnixListener, srv *mapper.Server, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serveConn(c, srv, log)
	}
}

func serveConn(c *net.UnixConn, srv *mapper.Server, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(RequestTimeout))
	if err := checkPeer(c); err != nil {
		log.Warn("control socket: refused", "err", err.Error())
		writeResp(c, Response{Version: 1, Error: err.Error()})
		return
	}
	line, err := bufio.NewReaderSize(io.LimitReader(c, MaxRequest), 512).ReadSlice('\n')
	if err != nil {
		writeResp(c, Response{Version: 1, Error: "request: not one JSON line of at most 4 KiB"})
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		writeResp(c, Response{Version: 1, Error: "request: " + err.Error()})
		return
	}
	writeResp(c, answer(srv, req))
}

func answer(srv *mapper.Server, req Request) Response {
	switch req.Op {
	case "status":
		resp := Response{Version: 1, Rules: []RuleV1{}}
		for _, r := range srv.Status() {
			rv := RuleV1{Name: r.Name, Type: r.Type.String(), Listen: r.Listen, Active: r.Active, Up: r.Up, Down: r.Down, Refused: r.Refused}
			for _, d := range r.Dests {
				rv.Dests = append(rv.Dests, DestV1{Route: d.Route, Addr: d.Addr, Weight: d.Weight, Up: d.Up, Drained: d.Drained, Active: d.Active})
			}
			resp.Rules = append(resp.Rules, rv)
		}
		return resp
	case "drain":
		n, err := srv.Drain(req.Rule, req.Dest, req.Drain)
		if err != nil {
			return Response{Version: 1, Error: err.Error()}
		}
		return Response{Version: 1, Changed: n}
	}
	return Response{Version: 1, Error: fmt.Sprintf("unknown op %q (want status or drain)", req.Op)}
}

func writeResp(c net.Conn, r Response) {
	b, _ := json.Marshal(r)
	c.Write(append(b, '\n'))
}

// Do sends req to the socket at path and returns the answer; an answer
// with an error is returned as an error.
func Do(ctx context.Context, path string, req Request) (*Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(RequestTimeout))
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(io.LimitReader(c, 64<<20)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control socket: reading the answer: %w", err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
