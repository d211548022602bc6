package cli

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
)

// frame is one captured packet from a file or an interface. Data aliases
// the source's buffer until the next frame.
type frame struct {
	N       int
	Time    int64 // ns since the epoch
	Link    pcapfile.LinkType
	Data    []byte
	OrigLen int
}

// openFile opens a capture file; "-" is standard input.
func openFile(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// fileFrames yields the frames of a capture that the filter expression
// (tcpdump's language; "" keeps all) keeps.
func fileFrames(ctx context.Context, r io.Reader, expr string) (iter.Seq2[*frame, error], error) {
	if _, err := parseFilter(expr); err != nil {
		return nil, err
	}
	pr, err := pcapfile.NewReader(r)
	if err != nil {
		return nil, err
	}
	return func(yield func(*frame, error) bool) {
		// A NULL link's address family is in the file's byte order,
		// which tcpdump's filter matches it in; so a matcher per order.
		type matcherKey struct {
			link pcapfile.LinkType
			be   bool
		}
		matchers := map[matcherKey]*filter.Matcher{}
		var fr frame
		n := 0
		for p, err := range pr.Packets() {
			if err != nil {
				yield(nil, err)
				return
			}
			n++
			if n%4096 == 0 && ctx.Err() != nil {
				yield(nil, ctx.Err())
				return
			}
			if expr != "" {
				order := pr.ByteOrder()
				key := matcherKey{p.LinkType, order == binary.BigEndian}
				m, ok := matchers[key]
				if !ok {
					e, perr := filter.Parse(expr)
					if perr == nil {
						m, perr = e.MatcherOrder(p.LinkType, order)
					}
					if perr != nil {
						yield(nil, fmt.Errorf("packet %d: %w", n, perr))
						return
					}
					matchers[key] = m
				}
				if !m.Match(p.Data, p.Length) {
					continue
				}
			}
			fr = frame{N: n, Time: p.Timestamp, Link: p.LinkType, Data: p.Data, OrigLen: p.Length}
			if !yield(&fr, nil) {
				return
			}
		}
	}, nil
}

// filterArgs joins the words after FILE into one filter expression, as
// tcpdump does.
func filterArgs(args []string) string { return strings.Join(args, " ") }

// parseFilter checks a filter expression; a bad one is a usage error.
func parseFilter(expr string) (*filter.Expr, error) {
	e, err := filter.Parse(expr)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return e, nil
}
