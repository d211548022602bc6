package socktable

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
)

// parseProcNet reads a Linux /proc/net/{tcp,tcp6,udp,udp6} table,
// calling fn with each socket. It is the fallback when netlink sock_diag
// is refused. The file has a header line, then one socket per line:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// Addresses are hex words in the kernel's (host) byte order, ports hex in
// network order written as numbers.
func parseProcNet(r io.Reader, name string, proto ports.Proto, fn func(*Socket) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	var s Socket
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		if err := parseProcNetLine(sc.Text(), proto, &s); err != nil {
			return fmt.Errorf("socktable: %s line %d: %w", name, line, err)
		}
		if !fn(&s) {
			return nil
		}
	}
	return sc.Err()
}

func parseProcNetLine(text string, proto ports.Proto, s *Socket) error {
	f := strings.Fields(text)
	if len(f) < 10 {
		return fmt.Errorf("%d fields, want at least 10", len(f))
	}
	*s = Socket{Proto: proto}
	var err error
	if s.Local, err = parseHexAddrPort(f[1]); err != nil {
		return err
	}
	if s.Remote, err = parseHexAddrPort(f[2]); err != nil {
		return err
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return fmt.Errorf("state %q: %w", f[3], err)
	}
	s.State = State(st)
	tx, rx, ok := strings.Cut(f[4], ":")
	if !ok {
		return fmt.Errorf("queues %q: want tx:rx", f[4])
	}
	sq, err1 := strconv.ParseUint(tx, 16, 32)
	rq, err2 := strconv.ParseUint(rx, 16, 32)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("queues %q: not hex", f[4])
	}
	s.SendQ, s.RecvQ = uint32(sq), uint32(rq)
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return fmt.Errorf("uid %q: %w", f[7], err)
	}
	s.UID = uint32(uid)
	if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return fmt.Errorf("inode %q: %w", f[9], err)
	}
	return nil
}

// parseHexAddrPort parses "0100007F:1F90" (IPv4) or the 32-digit IPv6
// form: the address as 32-bit words in host byte order (little-endian on
// the machines Linux mostly runs on), then the port.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("address %q: want 8 or 32 hex digits, a colon and a port", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port in %q: %w", s, err)
	}
	// Each 32-bit word was printed as a number: undo the host order.
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	if len(raw) == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(port)), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(port)), nil
}
