package socktable

import (
	"bytes"
	"os"
	"strconv"

	"github.com/portkit/ports"
)

// estimateOS reads the counters of /proc/net/sockstat (TCP and UDP over
// IPv4, and TIME-WAIT of both families) and /proc/net/sockstat6 (TCP6
// and UDP6), each a line like "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1".
func estimateOS(opts *Options) int {
	if opts.NetNS != "" {
		return 0
	}
	tcp, udp := len(opts.Protos) == 0, len(opts.Protos) == 0
	for _, p := range opts.Protos {
		tcp = tcp || p == ports.ProtoTCP
		udp = udp || p == ports.ProtoUDP
	}
	n := 0
	var buf [1024]byte
	if opts.Family != 6 {
		b := readSmall("/proc/thread-self/net/sockstat", buf[:])
		if tcp {
			n += sockstatField(b, "TCP:", "inuse") + sockstatField(b, "TCP:", "tw")
		}
		if udp {
			n += sockstatField(b, "UDP:", "inuse")
		}
	}
	if opts.Family != 4 {
		b := readSmall("/proc/thread-self/net/sockstat6", buf[:])
		if tcp {
			n += sockstatField(b, "TCP6:", "inuse")
		}
		if udp {
			n += sockstatField(b, "UDP6:", "inuse")
		}
	}
	return n
}

// readSmall reads the start of the file name into buf; nil on an error.
func readSmall(name string, buf []byte) []byte {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	n, err := f.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// sockstatField returns the number after key on the line of b that
// starts with line, or 0.
func sockstatField(b []byte, line, key string) int {
	for len(b) > 0 {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		rest, ok := bytes.CutPrefix(l, []byte(line))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			if string(f[i]) == key {
				v, err := strconv.Atoi(string(f[i+1]))
				if err != nil || v < 0 {
					return 0
				}
				return v
			}
		}
		return 0
	}
	return 0
}
