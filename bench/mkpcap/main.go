// Command mkpcap writes a synthetic but realistic pcap file of TCP
// traffic, for the benchmarks of `ports decode` and `ports flows`
// (bench/wire.sh).
//
// Usage:
//
//	mkpcap [-packets N] [-flows F] [-clients C] [-servers S]
//	       [-duration D] [-snaplen L] [-seed X] [-nano] -o FILE
//
// The capture has exactly N packets (default 1,700,000) on Ethernet, cut
// to a snapshot length of L bytes (default 128, as `tcpdump -s 128`):
// each record keeps the packet's original length, up to 1514 bytes. The
// packets are F TCP connections (default 20,000) from C client addresses
// in 10.0.0.0/8 (default 400, some much busier than others) to S servers
// in 172.16.0.0/16 (default 40), each serving one of 443 (TLS), 80 and
// 8080 (HTTP), 22 (SSH), 5432 (PostgreSQL), 3306 (MySQL) and 6379
// (Redis). Connection sizes are heavy-tailed: most have a few dozen
// packets, the largest more than ten thousand.
//
// Each connection is simulated as seen from a tap near the clients: the
// three-way handshake with MSS, SACK-permitted, timestamps and window
// scale options; then the protocol's opening messages and rounds of
// request and response, with realistic sequence and acknowledgment
// numbers, timestamps (TSval and TSecr), delayed ACKs (every second
// segment, else after 40 ms unless a reply carries the ACK), slow start
// (an initial window of 10 segments, doubling each round trip), and in
// some connections losses past the tap, repaired by fast retransmit after
// three duplicate ACKs or by a timeout retransmission; and at the end a
// FIN exchange (three or four packets, from either side) or a RST. A few
// connections are refused (SYN, RST) or never answered (three SYNs). The
// first segment of each message starts as that protocol's message does
// (a TLS record, an HTTP request line, a PostgreSQL query, ...); the rest
// of the payload is pseudo-random. IPv4 and TCP checksums are correct for
// the whole packet (check with -snaplen 0, which keeps whole packets).
//
// Connections start at random over the capture's duration D (default
// 10m), so that many (up to about a hundred) are open at once and their
// packets interleave; timestamps never decrease. No connection is idle
// for more than a few seconds, and no two have the same addresses and
// ports. The output depends only on the flags: the same flags give the
// same bytes.
//
// mkpcap prints a summary line on stderr. Exit status: 0 on success, 1 on
// an error, 2 for a usage error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkpcap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg  config
		out  string
		nano bool
	)
	fs.IntVar(&cfg.packets, "packets", 1_700_000, "packets to write, exactly")
	fs.IntVar(&cfg.flows, "flows", 20_000, "TCP connections (fewer if the packets are too few: at least 20 each on average)")
	fs.IntVar(&cfg.clients, "clients", 400, "client addresses, in 10.0.0.0/8")
	fs.IntVar(&cfg.servers, "servers", 40, "server addresses, in 172.16.0.0/16")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Minute, "time over which connections start")
	fs.IntVar(&cfg.snaplen, "snaplen", 128, "snapshot length: bytes kept of each packet (0: all)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the pseudo-random choices")
	fs.StringVar(&out, "o", "", "output `FILE` (- for standard output)")
	fs.BoolVar(&nano, "nano", false, "nanosecond timestamps (magic a1b23c4d) instead of microseconds")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkpcap [flags] -o FILE\n\nWrites a synthetic capture of TCP connections (see go doc ./bench/mkpcap).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mkpcap: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if out == "" {
		fmt.Fprintln(stderr, "mkpcap: -o FILE is required")
		return 2
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(stderr, "mkpcap:", err)
		return 2
	}
	cfg.nano = nano

	var w io.Writer = stdout
	var f *os.File
	if out != "-" {
		var err error
		if f, err = os.Create(out); err != nil {
			fmt.Fprintln(stderr, "mkpcap:", err)
			return 1
		}
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	began := time.Now()
	sum, err := generate(bw, &cfg)
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "mkpcap:", err)
		return 1
	}
	fmt.Fprintf(stderr, "mkpcap: %d packets, %d TCP connections (%d refused, %d unanswered), %d bytes on the wire, %s of capture, snaplen %d; written in %s\n",
		sum.packets, sum.flows, sum.refused, sum.unanswered, sum.wireBytes,
		(time.Duration(sum.span) * time.Microsecond).Round(time.Millisecond), cfg.snaplen, time.Since(began).Round(time.Millisecond))
	return 0
}

// config is what the flags set.
type config struct {
	packets, flows, clients, servers int
	duration                         time.Duration
	snaplen                          int
	seed                             uint64
	nano                             bool
}

func (c *config) check() error {
	switch {
	case c.packets < 100:
		return fmt.Errorf("-packets %d: want at least 100", c.packets)
	case c.flows < 1:
		return fmt.Errorf("-flows %d: want at least 1", c.flows)
	case c.clients < 1 || c.clients > 1<<20:
		return fmt.Errorf("-clients %d: want 1 to %d", c.clients, 1<<20)
	case c.servers < 1 || c.servers > 250*250:
		return fmt.Errorf("-servers %d: want 1 to %d", c.servers, 250*250)
	case c.duration < time.Second:
		return fmt.Errorf("-duration %s: want at least 1s", c.duration)
	case c.snaplen < 0 || c.snaplen > 262144:
		return fmt.Errorf("-snaplen %d: want 0 to 262144", c.snaplen)
	case c.snaplen > 0 && c.snaplen < 60:
		return fmt.Errorf("-snaplen %d: want at least 60, to keep the headers", c.snaplen)
	}
	return nil
}
