// Package proxyproto reads and writes the PROXY protocol header, versions
// 1 (text) and 2 (binary), as haproxy's proxy-protocol.txt specifies. A
// proxy sends it first on a connection to tell the upstream who the
// client really is.
//
// Read is strict and bounded: a v1 header is at most 107 bytes, a v2
// header at most 16+65535 bytes, and Read consumes exactly the header, so
// the bufio.Reader keeps what follows it. It does no I/O of its own
// beyond reading from the reader; timeouts are the caller's (set a read
// deadline on the connection), and so is deciding whom to trust (accept a
// header only from trusted sources, see package acl).
//
// The package is written here rather than taken from a library because
// parsing untrusted headers at the front of every connection is the core
// of the product's trust boundary, and it needs exactly the strictness,
// limits and error messages documented above.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// Header is one PROXY protocol header.
type Header struct {
	Version int  // 1 or 2, as read; Append chooses the version itself
	Local   bool // v2 LOCAL command (health checks from the proxy itself): use the connection's own addresses
	// Proto is ProtoTCP or ProtoUDP, or ProtoAny for v1 UNKNOWN and a v2
	// header with an unspecified transport.
	Proto ports.Proto
	// Src and Dst are the original client and the address it connected
	// to; both are zero for v1 UNKNOWN and a v2 AF_UNSPEC header. They
	// are set for a LOCAL header that carries addresses, which receivers
	// should nevertheless ignore.
	Src, Dst netip.AddrPort
	// TLVs are the v2 type-length-value extensions, kept raw and in
	// order (PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_SSL, ...).
	TLVs []TLV
}

// TLV is one v2 type-length-value extension. Value is at most 65535 bytes.
type TLV struct {
	Type  byte
	Value []byte
}

// Limits of the protocol.
const (
	MaxV1Len = 107        // longest v1 header, CRLF included
	MaxV2Len = 16 + 65535 // longest v2 header
)

var (
	// ErrNoHeader means the input does not start with a PROXY protocol
	// signature (neither "PROXY " nor the v2 12-byte signature). Read
	// consumes nothing in that case.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrMalformed is wrapped by the errors for a header that starts
	// with a signature but is malformed; the message says what is wrong.
	ErrMalformed = errors.New("proxyproto: malformed header")
	// ErrUnsupported is wrapped by the errors for a well-formed header
	// that this package does not handle: AF_UNIX addresses.
	ErrUnsupported = errors.New("proxyproto: unsupported header")
)

// sigV2 is the v2 signature.
var sigV2 = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Read reads one PROXY protocol header (v1 or v2) from r. It returns
// ErrNoHeader, consuming nothing, if r does not start with a signature,
// and an error wrapping ErrMalformed or ErrUnsupported for a bad header.
// An io.EOF or io.ErrUnexpectedEOF is returned as such (wrapped) when the
// input ends inside a header. The TLV values are fresh copies.
func Read(r *bufio.Reader) (*Header, error) {
	first, err := r.Peek(1)
	if err != nil {
		return nil, err
	}
	switch first[0] {
	case 'P':
		b, err := r.Peek(6)
		if err != nil && len(b) < 6 {
			if bytes.HasPrefix([]byte("PROXY "), b) {
				return nil, fmt.Errorf("proxyproto: v1 header cut short: %w", io.ErrUnexpectedEOF)
			}
			return nil, ErrNoHeader
		}
		if string(b) != "PROXY " {
			return nil, ErrNoHeader
		}
		return readV1(r)
	case sigV2[0]:
		b, err := r.Peek(len(sigV2))
		if !bytes.HasPrefix(sigV2[:], b) {
			return nil, ErrNoHeader
		}
		if err != nil {
			return nil, fmt.Errorf("proxyproto: v2 signature cut short: %w", io.ErrUnexpectedEOF)
		}
		return readV2(r)
	}
	return nil, ErrNoHeader
}

// readV1 reads a v1 line, at most MaxV1Len bytes.
func readV1(r *bufio.Reader) (*Header, error) {
	var line [MaxV1Len]byte
	n := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("proxyproto: v1 header cut short: %w", err)
		}
		line[n] = c
		n++
		if c == '\n' {
			break
		}
		if n == MaxV1Len {
			return nil, malformed("v1 header longer than %d bytes without CRLF", MaxV1Len)
		}
	}
	return ParseV1(line[:n])
}

// ParseV1 parses a complete v1 header line, "PROXY ...\r\n".
func ParseV1(line []byte) (*Header, error) {
	if len(line) > MaxV1Len {
		return nil, malformed("v1 header longer than %d bytes", MaxV1Len)
	}
	s, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return nil, malformed("v1 header does not end with CRLF")
	}
	if bytes.IndexAny(s, "\r\n") >= 0 {
		return nil, malformed("v1 header has a stray CR or LF")
	}
	rest, ok := bytes.CutPrefix(s, []byte("PROXY "))
	if !ok {
		return nil, malformed("v1 header does not start with \"PROXY \"")
	}
	h := &Header{Version: 1}
	fields := bytes.Split(rest, []byte(" "))
	switch string(fields[0]) {
	case "UNKNOWN":
		// The receiver ignores everything after UNKNOWN.
		return h, nil
	case "TCP4", "TCP6":
	default:
		return nil, malformed("v1 protocol %q is not TCP4, TCP6 or UNKNOWN", fields[0])
	}
	if len(fields) != 5 {
		return nil, malformed("v1 %s header has %d fields, want 5 (single spaces)", fields[0], len(fields))
	}
	want6 := string(fields[0]) == "TCP6"
	h.Proto = ports.ProtoTCP
	var addrs [2]netip.Addr
	for i, what := range []string{"source", "destination"} {
		a, err := netip.ParseAddr(string(fields[1+i]))
		if err != nil || a.Zone() != "" {
			return nil, malformed("v1 %s address %q is not an IP address", what, fields[1+i])
		}
		if a.Is4() == want6 {
			return nil, malformed("v1 %s address %q does not match %s", what, fields[1+i], fields[0])
		}
		addrs[i] = a
	}
	var pts [2]uint16
	for i, what := range []string{"source", "destination"} {
		p, err := parseV1Port(fields[3+i])
		if err != nil {
			return nil, malformed("v1 %s port %q: %v", what, fields[3+i], err)
		}
		pts[i] = p
	}
	h.Src = netip.AddrPortFrom(addrs[0], pts[0])
	h.Dst = netip.AddrPortFrom(addrs[1], pts[1])
	return h, nil
}

func parseV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 {
		return 0, errors.New("not a number from 0 to 65535")
	}
	if len(b) > 1 && b[0] == '0' {
		return 0, errors.New("leading zero")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number from 0 to 65535")
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, errors.New("not a number from 0 to 65535")
	}
	return uint16(n), nil
}

// readV2 reads a v2 header whose signature r starts with.
func readV2(r *bufio.Reader) (*Header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("proxyproto: v2 header cut short: %w", err)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:]))
	b := make([]byte, 16+n)
	copy(b, fixed[:])
	if _, err := io.ReadFull(r, b[16:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("proxyproto: v2 header cut short (length %d): %w", n, err)
	}
	h, _, err := ParseV2(b)
	return h, err
}

// ParseV2 parses a v2 header at the start of b and returns it with its
// length. TLV values alias b.
func ParseV2(b []byte) (*Header, int, error) {
	if len(b) < 16 {
		return nil, 0, malformed("v2 header shorter than 16 bytes")
	}
	if [12]byte(b[:12]) != sigV2 {
		return nil, 0, malformed("v2 signature mismatch")
	}
	ver, cmd := b[12]>>4, b[12]&0x0f
	if ver != 2 {
		return nil, 0, malformed("v2 version nibble is %d, want 2", ver)
	}
	h := &Header{Version: 2}
	switch cmd {
	case 0:
		h.Local = true
	case 1:
	default:
		return nil, 0, malformed("v2 command %d is neither LOCAL (0) nor PROXY (1)", cmd)
	}
	fam, tr := b[13]>>4, b[13]&0x0f
	switch tr {
	case 0:
		h.Proto = ports.ProtoAny
	case 1:
		h.Proto = ports.ProtoTCP
	case 2:
		h.Proto = ports.ProtoUDP
	default:
		return nil, 0, malformed("v2 transport %d is not UNSPEC (0), STREAM (1) or DGRAM (2)", tr)
	}
	n := int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < 16+n {
		return nil, 0, malformed("v2 header length %d exceeds the %d bytes given", n, len(b)-16)
	}
	body := b[16 : 16+n]
	var alen int
	switch fam {
	case 0:
		alen = 0
	case 1:
		alen = 12
	case 2:
		alen = 36
	case 3:
		return nil, 0, fmt.Errorf("%w: v2 AF_UNIX addresses are not supported", ErrUnsupported)
	default:
		return nil, 0, malformed("v2 address family %d is not AF_UNSPEC, AF_INET, AF_INET6 or AF_UNIX", fam)
	}
	if len(body) < alen {
		return nil, 0, malformed("v2 length %d too short for the %d bytes of addresses", n, alen)
	}
	switch fam {
	case 1:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 2:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	}
	tlvs := body[alen:]
	for len(tlvs) > 0 {
		if len(tlvs) < 3 {
			return nil, 0, malformed("v2 TLV at offset %d cut short", 16+n-len(tlvs))
		}
		l := int(binary.BigEndian.Uint16(tlvs[1:3]))
		if len(tlvs) < 3+l {
			return nil, 0, malformed("v2 TLV type 0x%02x at offset %d has length %d beyond the header", tlvs[0], 16+n-len(tlvs), l)
		}
		h.TLVs = append(h.TLVs, TLV{Type: tlvs[0], Value: tlvs[3 : 3+l : 3+l]})
		tlvs = tlvs[3+l:]
	}
	return h, 16 + n, nil
}

// addrs returns h's addresses with matching families: if one is IPv4 and
// the other IPv4-mapped IPv6, both are unmapped. Zones are dropped.
func (h *Header) addrs() (src, dst netip.AddrPort, err error) {
	src, dst = h.Src, h.Dst
	if src.IsValid() != dst.IsValid() {
		return src, dst, errors.New("proxyproto: source and destination must both be set or both be zero")
	}
	if !src.IsValid() {
		return src, dst, nil
	}
	s, d := src.Addr().WithZone(""), dst.Addr().WithZone("")
	if s.Is4() != d.Is4() {
		s, d = s.Unmap(), d.Unmap()
		if s.Is4() != d.Is4() {
			return src, dst, fmt.Errorf("proxyproto: source %s and destination %s are of different address families", s, d)
		}
	}
	return netip.AddrPortFrom(s, src.Port()), netip.AddrPortFrom(d, dst.Port()), nil
}

// AppendV1 appends h as a v1 header to b. A LOCAL header, or one with
// ProtoAny or without addresses, is written as "PROXY UNKNOWN\r\n"; v1
// cannot carry UDP or TLVs, which are errors.
func (h *Header) AppendV1(b []byte) ([]byte, error) {
	if len(h.TLVs) > 0 {
		return b, errors.New("proxyproto: v1 cannot carry TLVs")
	}
	src, dst, err := h.addrs()
	if err != nil {
		return b, err
	}
	if h.Local || h.Proto == ports.ProtoAny || !src.IsValid() {
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	if h.Proto != ports.ProtoTCP {
		return b, fmt.Errorf("proxyproto: v1 cannot carry %s", h.Proto)
	}
	fam := "TCP4"
	if src.Addr().Is6() {
		fam = "TCP6"
	}
	b = append(b, "PROXY "...)
	b = append(b, fam...)
	b = append(b, ' ')
	b = src.Addr().AppendTo(b)
	b = append(b, ' ')
	b = dst.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, "\r\n"...), nil
}

// AppendV2 appends h as a v2 header to b: PROXY or LOCAL (h.Local),
// AF_INET or AF_INET6 from the addresses (AF_UNSPEC without them),
// STREAM, DGRAM or UNSPEC from h.Proto, then the TLVs.
func (h *Header) AppendV2(b []byte) ([]byte, error) {
	src, dst, err := h.addrs()
	if err != nil {
		return b, err
	}
	var tr byte
	switch h.Proto {
	case ports.ProtoAny:
	case ports.ProtoTCP:
		tr = 1
	case ports.ProtoUDP:
		tr = 2
	default:
		return b, fmt.Errorf("proxyproto: v2 cannot carry %s", h.Proto)
	}
	var fam byte
	alen := 0
	if src.IsValid() {
		fam, alen = 1, 12
		if src.Addr().Is6() {
			fam, alen = 2, 36
		}
	}
	n := alen
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return b, fmt.Errorf("proxyproto: TLV type 0x%02x value of %d bytes exceeds 65535", t.Type, len(t.Value))
		}
		n += 3 + len(t.Value)
	}
	if n > 0xffff {
		return b, fmt.Errorf("proxyproto: v2 header body of %d bytes exceeds 65535", n)
	}
	cmd := byte(0x21)
	if h.Local {
		cmd = 0x20
	}
	b = append(b, sigV2[:]...)
	b = append(b, cmd, fam<<4|tr)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	switch fam {
	case 1:
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	case 2:
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	if fam != 0 {
		b = binary.BigEndian.AppendUint16(b, src.Port())
		b = binary.BigEndian.AppendUint16(b, dst.Port())
	}
	for _, t := range h.TLVs {
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}
