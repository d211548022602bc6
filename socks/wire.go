package socks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// Protocol constants of RFC 1928, RFC 1929 and SOCKS4.
const (
	methodNone         = 0x00
	methodPassword     = 0x02
	methodNoAcceptable = 0xff

	cmdConnect      = 1
	cmdBind         = 2
	cmdUDPAssociate = 3

	atypIPv4   = 1
	atypDomain = 3
	atypIPv6   = 4

	rep5Succeeded           = 0x00
	rep5GeneralFailure      = 0x01
	rep5NotAllowed          = 0x02
	rep5NetworkUnreachable  = 0x03
	rep5HostUnreachable     = 0x04
	rep5ConnectionRefused   = 0x05
	rep5TTLExpired          = 0x06
	rep5CommandNotSupported = 0x07
	rep5AddrNotSupported    = 0x08

	rep4Granted  = 0x5a
	rep4Rejected = 0x5b
)

func cmdName(c byte) string {
	switch c {
	case cmdConnect:
		return "CONNECT"
	case cmdBind:
		return "BIND"
	case cmdUDPAssociate:
		return "UDP ASSOCIATE"
	}
	return "unknown"
}

// requestError is a malformed SOCKS5 request with the reply code to
// send.
type requestError struct {
	rep byte
	msg string
}

func (e *requestError) Error() string { return ErrBadRequest.Error() + ": " + e.msg }
func (e *requestError) Unwrap() error { return ErrBadRequest }

func badRequest(rep byte, format string, args ...any) error {
	return &requestError{rep: rep, msg: fmt.Sprintf(format, args...)}
}

func readFull(r io.Reader, b []byte, what string) error {
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("socks: read %s: %w", what, err)
	}
	return nil
}

// readMethods reads the rest of a SOCKS5 greeting after the version byte.
func readMethods(r io.Reader) ([]byte, error) {
	var n [1]byte
	if err := readFull(r, n[:], "method count"); err != nil {
		return nil, err
	}
	if n[0] == 0 {
		return nil, fmt.Errorf("%w: greeting offers no methods", ErrBadRequest)
	}
	m := make([]byte, n[0])
	if err := readFull(r, m, "methods"); err != nil {
		return nil, err
	}
	return m, nil
}

// readPassword reads an RFC 1929 username/password request.
func readPassword(r io.Reader) (user, pass string, err error) {
	var b [2]byte
	if err := readFull(r, b[:], "auth header"); err != nil {
		return "", "", err
	}
	if b[0] != 1 {
		return "", "", fmt.Errorf("%w: auth version %d, want 1", ErrBadRequest, b[0])
	}
	u := make([]byte, b[1])
	if err := readFull(r, u, "username"); err != nil {
		return "", "", err
	}
	if err := readFull(r, b[:1], "password length"); err != nil {
		return "", "", err
	}
	p := make([]byte, b[0])
	if err := readFull(r, p, "password"); err != nil {
		return "", "", err
	}
	return string(u), string(p), nil
}

// request is a parsed SOCKS4 or SOCKS5 request.
type request struct {
	cmd  byte
	addr netip.Addr // the IP, or invalid for a domain name
	host string     // the domain name, when addr is invalid
	port uint16
	user string // SOCKS4 userid
}

func (r *request) target() string {
	h := r.host
	if r.addr.IsValid() {
		h = r.addr.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(int(r.port)))
}

// readRequest5 reads a SOCKS5 request (VER CMD RSV ATYP DST.ADDR
// DST.PORT). Errors of malformed requests are *requestError.
func readRequest5(r io.Reader) (*request, error) {
	var b [4]byte
	if err := readFull(r, b[:], "request"); err != nil {
		return nil, err
	}
	if b[0] != 5 {
		return nil, badRequest(rep5GeneralFailure, "request version %d, want 5", b[0])
	}
	if b[2] != 0 {
		return nil, badRequest(rep5GeneralFailure, "reserved byte is 0x%02x, want 0", b[2])
	}
	req := &request{cmd: b[1]}
	if err := readAddr(r, b[3], req); err != nil {
		return nil, err
	}
	return req, nil
}

// readAddr reads ATYP-typed DST.ADDR and DST.PORT into req.
func readAddr(r io.Reader, atyp byte, req *request) error {
	switch atyp {
	case atypIPv4:
		var a [4]byte
		if err := readFull(r, a[:], "IPv4 address"); err != nil {
			return err
		}
		req.addr = netip.AddrFrom4(a)
	case atypIPv6:
		var a [16]byte
		if err := readFull(r, a[:], "IPv6 address"); err != nil {
			return err
		}
		req.addr = netip.AddrFrom16(a).Unmap()
	case atypDomain:
		var n [1]byte
		if err := readFull(r, n[:], "domain length"); err != nil {
			return err
		}
		d := make([]byte, n[0])
		if err := readFull(r, d, "domain"); err != nil {
			return err
		}
		if err := checkHost(d); err != nil {
			return badRequest(rep5HostUnreachable, "%v", err)
		}
		req.host = string(d)
	default:
		return badRequest(rep5AddrNotSupported, "address type %d is not IPv4 (1), domain (3) or IPv6 (4)", atyp)
	}
	var p [2]byte
	if err := readFull(r, p[:], "port"); err != nil {
		return err
	}
	req.port = binary.BigEndian.Uint16(p[:])
	return nil
}

// checkHost accepts host names made of letters, digits, '-', '_' and
// '.', so that nothing else (spaces, '%', ':', NUL) reaches a resolver.
func checkHost(d []byte) error {
	if len(d) == 0 {
		return errors.New("empty domain name")
	}
	for _, c := range d {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("domain name %q has a byte 0x%02x that is not a letter, digit, '-', '_' or '.'", d, c)
		}
	}
	return nil
}

const maxNulString = 255

// readNul reads a NUL-terminated string of at most maxNulString bytes.
func readNul(r io.Reader, what string) (string, error) {
	var b []byte
	var c [1]byte
	for {
		if err := readFull(r, c[:], what); err != nil {
			return "", err
		}
		if c[0] == 0 {
			return string(b), nil
		}
		if len(b) == maxNulString {
			return "", fmt.Errorf("%w: SOCKS4 %s longer than %d bytes", ErrBadRequest, what, maxNulString)
		}
		b = append(b, c[0])
	}
}

// readRequest4 reads a SOCKS4 or SOCKS4a request after the version byte:
// CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL].
func readRequest4(r io.Reader) (*request, error) {
	var b [7]byte
	if err := readFull(r, b[:], "SOCKS4 request"); err != nil {
		return nil, err
	}
	req := &request{cmd: b[0], port: binary.BigEndian.Uint16(b[1:3])}
	ip := [4]byte(b[3:7])
	user, err := readNul(r, "userid")
	if err != nil {
		return nil, err
	}
	req.user = user
	if ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0 {
		// SOCKS4a: 0.0.0.x means a host name follows.
		host, err := readNul(r, "host name")
		if err != nil {
			return nil, err
		}
		if err := checkHost([]byte(host)); err != nil {
			return nil, fmt.Errorf("%w: SOCKS4a %v", ErrBadRequest, err)
		}
		req.host = host
	} else {
		req.addr = netip.AddrFrom4(ip)
	}
	return req, nil
}

// appendAddr appends ATYP, address and port.
func appendAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	switch {
	case a.Is6():
		b = append(b, atypIPv6)
		s := a.As16()
		b = append(b, s[:]...)
	case a.Is4():
		b = append(b, atypIPv4)
		s := a.As4()
		b = append(b, s[:]...)
	default:
		b = append(b, atypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func reply5(rep byte, bnd netip.AddrPort) []byte {
	return appendAddr([]byte{5, rep, 0}, bnd)
}

func reply4(rep byte, bnd netip.AddrPort) []byte {
	b := []byte{0, rep}
	b = binary.BigEndian.AppendUint16(b, bnd.Port())
	var ip [4]byte
	if a := bnd.Addr().Unmap(); a.Is4() {
		ip = a.As4()
	}
	return append(b, ip[:]...)
}

// udpHeader is a parsed SOCKS5 UDP request header.
type udpHeader struct {
	frag byte
	req  request
	data []byte // the payload; aliases the datagram
}

// parseUDP parses a SOCKS5 UDP datagram: RSV(2) FRAG ATYP DST.ADDR
// DST.PORT DATA.
func parseUDP(b []byte) (*udpHeader, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: UDP datagram of %d bytes is shorter than its header", ErrBadRequest, len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, fmt.Errorf("%w: UDP reserved bytes are not zero", ErrBadRequest)
	}
	h := &udpHeader{frag: b[2]}
	r := &sliceReader{b: b[4:]}
	if err := readAddr(r, b[3], &h.req); err != nil {
		return nil, fmt.Errorf("%w: UDP header: %v", ErrBadRequest, err)
	}
	h.data = r.b
	return h, nil
}

// sliceReader reads from a byte slice without copying the rest.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
