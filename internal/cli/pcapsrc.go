package cli

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
)

// frame is a captured packet, from a file or an interface, with its
// number in the capture (from 1). Data aliases the source's buffer
// until the next frame.
type frame struct {
	N int
	pcapfile.Packet
}

// openFile opens a capture file; "-" is standard input.
func openFile(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fileError(name, err)
	}
	return f, func() { f.Close() }, nil
}

// fileError says what is wrong with the capture file name in the user's
// terms: the file, where, and what (no package names, no Go calls).
func fileError(name string, err error) error {
	if name == "-" {
		name = "standard input"
	}
	var pe *fs.PathError
	var fe *pcapfile.FormatError
	switch {
	case errors.As(err, &fe):
		switch {
		case errors.Is(fe.Err, pcapfile.ErrUnknownFormat):
			return fmt.Errorf("%s: not a pcap or pcapng capture (%s)", name, fe.Msg)
		case errors.Is(fe.Err, io.ErrUnexpectedEOF) && fe.Offset == 0:
			return fmt.Errorf("%s: empty, not a pcap or pcapng capture", name)
		case errors.Is(fe.Err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%s: cut short at byte %d: %s", name, fe.Offset, fe.Msg)
		case errors.Is(fe.Err, pcapfile.ErrUnsupportedVersion):
			return fmt.Errorf("%s: %s is not supported (byte %d)", name, fe.Msg, fe.Offset)
		}
		return fmt.Errorf("%s: damaged at byte %d: %s", name, fe.Offset, fe.Msg)
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %v", name, pe.Err)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%s: %v", name, err)
}

// fileFrames yields the frames of a capture that the filter expression
// (tcpdump's language; "" keeps all) keeps. name is the file's name,
// for errors ("-" is standard input).
func fileFrames(ctx context.Context, name string, r io.Reader, expr string) (iter.Seq2[*frame, error], error) {
	e, err := parseFilter(expr)
	if err != nil {
		return nil, err
	}
	pr, err := pcapfile.NewReader(r)
	if err != nil {
		return nil, fileError(name, err)
	}
	return func(yield func(*frame, error) bool) {
		// A NULL link's address family is in the file's byte order,
		// which tcpdump's filter matches it in; so a matcher per order.
		type matcherKey struct {
			link pcapfile.LinkType
			be   bool
		}
		matchers := map[matcherKey]*filter.Matcher{}
		// The matcher of the last packet: almost always this one's.
		var last *filter.Matcher
		var lastKey matcherKey
		var fr frame
		n := 0
		// Next and Packet rather than the Packets iterator: a loop
		// that most packets of a filtered read never leave.
		for pr.Next() {
			p := pr.Packet()
			n++
			if n%4096 == 0 && ctx.Err() != nil {
				yield(nil, ctx.Err())
				return
			}
			if expr != "" {
				// The byte order counts on NULL links only (see
				// MatcherOrder): on the others the link type decides.
				m := last
				if m == nil || p.LinkType != lastKey.link || p.LinkType == pcapfile.LinkTypeNull {
					order := pr.ByteOrder()
					key := matcherKey{p.LinkType, order == binary.BigEndian}
					if m == nil || key != lastKey {
						var ok bool
						if m, ok = matchers[key]; !ok {
							var perr error
							m, perr = e.MatcherOrder(p.LinkType, order)
							if perr != nil {
								yield(nil, fmt.Errorf("%s: packet %d: %w", name, n, perr))
								return
							}
							matchers[key] = m
						}
						last, lastKey = m, key
					}
				}
				if !m.Match(p.Data, p.Length) {
					continue
				}
			}
			fr = frame{N: n, Packet: *p}
			if !yield(&fr, nil) {
				return
			}
		}
		if err := pr.Err(); err != nil {
			yield(nil, fileError(name, err))
		}
	}, nil
}

// filterArgs joins the words after FILE into one filter expression, as
// tcpdump does.
func filterArgs(args []string) string { return strings.Join(args, " ") }

// parseFilter parses a filter expression, looking its host names up
// once, as tcpdump does; a bad one is a usage error.
func parseFilter(expr string) (*filter.Expr, error) {
	e, err := filter.ParseConfig(expr, &filter.Config{Resolver: newFilterResolver()})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return e, nil
}
