package hostports

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/portkit/ports"
)

// procDir is where Linux keeps the IPv4 (and, for ports, IPv6) sysctls.
const procDir = "/proc/sys/net/ipv4"

// The files under procDir that this package reads.
const (
	fileLocalPortRange  = "ip_local_port_range"
	fileUnprivPortStart = "ip_unprivileged_port_start"
)

// procImpl reads the Linux sysctl files from fsys, which holds the
// contents of dir. It is built on every OS so that recorded files can be
// tested anywhere.
type procImpl struct {
	fsys fs.FS  // rooted at dir
	dir  string // the real path of fsys, for errors and Source
}

func (p procImpl) source() string { return p.dir }

func (p procImpl) ephemeralRange() (ports.Range, error) {
	s, err := p.readFile(fileLocalPortRange)
	if err != nil {
		return ports.Range{}, err
	}
	r, err := parseLocalPortRange(s)
	if err != nil {
		return ports.Range{}, fmt.Errorf("hostports: %s: %w", path.Join(p.dir, fileLocalPortRange), err)
	}
	return r, nil
}

func (p procImpl) unprivilegedStart() (ports.Port, error) {
	s, err := p.readFile(fileUnprivPortStart)
	if errors.Is(err, fs.ErrNotExist) {
		// Linux before 4.11: privileged ports are fixed below 1024.
		return 1024, nil
	}
	if err != nil {
		return 0, err
	}
	port, err := parseUnprivilegedStart(s)
	if err != nil {
		return 0, fmt.Errorf("hostports: %s: %w", path.Join(p.dir, fileUnprivPortStart), err)
	}
	return port, nil
}

// readFile returns the contents of name without trailing white space.
// Errors are *fs.PathError naming the full path and keeping the cause.
func (p procImpl) readFile(name string) (string, error) {
	b, err := fs.ReadFile(p.fsys, name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("hostports: %w", &fs.PathError{Op: "read", Path: path.Join(p.dir, name), Err: err})
	}
	return strings.TrimRight(string(b), " \t\r\n"), nil
}

// parseLocalPortRange parses the contents of ip_local_port_range: two
// ports separated by white space, first <= last.
func parseLocalPortRange(s string) (ports.Range, error) {
	const what = "port range"
	var f [3]field
	n := splitFields(s, f[:])
	if n == 0 {
		return ports.Range{}, &ports.ParseError{What: what, Input: s, Pos: -1, Msg: "empty, want two ports"}
	}
	first, err := parseField(what, s, f[0])
	if err != nil {
		return ports.Range{}, err
	}
	switch n {
	case 1:
		return ports.Range{}, &ports.ParseError{What: what, Input: s, Pos: len(s), Msg: "missing last port"}
	case 3:
		return ports.Range{}, &ports.ParseError{What: what, Input: s, Pos: f[2].off, Msg: "more than two ports"}
	}
	last, err := parseField(what, s, f[1])
	if err != nil {
		return ports.Range{}, err
	}
	if first > last {
		return ports.Range{}, &ports.ParseError{What: what, Input: s, Pos: f[1].off, Msg: "last port below first"}
	}
	return ports.Range{First: first, Last: last}, nil
}

// parseUnprivilegedStart parses the contents of ip_unprivileged_port_start:
// one port.
func parseUnprivilegedStart(s string) (ports.Port, error) {
	const what = "port"
	var f [2]field
	n := splitFields(s, f[:])
	if n == 0 {
		return 0, &ports.ParseError{What: what, Input: s, Pos: -1, Msg: "empty, want a port"}
	}
	p, err := parseField(what, s, f[0])
	if err != nil {
		return 0, err
	}
	if n > 1 {
		return 0, &ports.ParseError{What: what, Input: s, Pos: f[1].off, Msg: "more than one port"}
	}
	return p, nil
}

// field is a run of non-space bytes at byte offset off of the input.
type field struct {
	s   string
	off int
}

// splitFields stores up to len(dst) space-separated fields of s in dst
// and returns how many it stored.
func splitFields(s string, dst []field) int {
	n := 0
	for i := 0; i < len(s) && n < len(dst); {
		if isSpace(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		dst[n] = field{s[i:j], i}
		n++
		i = j
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseField parses f as a port, reporting errors against the whole input.
func parseField(what, input string, f field) (ports.Port, error) {
	p, err := ports.ParsePort(f.s)
	if err != nil {
		var pe *ports.ParseError
		if errors.As(err, &pe) {
			return 0, &ports.ParseError{What: what, Input: input, Pos: f.off + pe.Pos, Msg: pe.Msg}
		}
		return 0, err
	}
	return p, nil
}
