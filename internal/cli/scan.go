package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/scan"
)

// scanNmapFlags are nmap's multi-letter single-dash options. pflag reads
// "-oX" as -o with the value "X", so the command parses its own flags and
// turns these into their long forms ("--oX") first.
var scanNmapFlags = []string{"iL", "oJ", "oG", "oX", "sT", "sS", "sU", "sV", "sn", "Pn"}

// scanOpts is the command line of `ports scan`.
type scanOpts struct {
	ff             formatFlags
	inputList      string
	exclude        string
	excludeFile    string
	allAddrs       bool
	v4, v6         bool
	portArg        string
	top            int
	excludePorts   string
	sT, sS, sU, sV bool
	sn, pn         bool // -sn: discovery only; -Pn: no discovery
	rate           float64
	maxRetries     int
	timeout        time.Duration
	concurrency    int
	seed           uint64
	shard          string
	resume         string
	allStates      bool
	oJ, oG, oX     string
	udpWait        time.Duration // --udp-ratelimit-wait
}

// manyTargets is the size of a target list past which a scan collects
// garbage at Go's default pace (see runScan).
const manyTargets = 4096

func newScanCmd() *cobra.Command {
	var o scanOpts
	cmd := &cobra.Command{
		Use:   "scan [flags] TARGET...",
		Short: "Find the open ports of hosts (TCP SYN, TCP connect or UDP scan)",
		Long: `Scan hosts for open TCP ports.

-sS, the SYN scan, sends SYNs from raw sockets, as nmap -sS does: open for
a SYN-ACK (syn-ack), closed for a RST (reset), filtered for an ICMP
unreachable (port-unreach, admin-prohibited...) or for silence after every
retry (no-response). It needs root or CAP_NET_RAW, and is the default when
the process can open a raw socket. Every reply is checked against a keyed
cookie in the SYN's sequence number. Silent ports are retried in rounds
(--max-retries, default 4); a host that SYN-ACKs every port (a SYN proxy
or tarpit) is reported on one line instead of listing its ports.
--rate is in packets per second (default 250000; the scan slows down by
itself for a host that limits its reply rate).

-sT, the connect scan (the default without privileges), makes full
connects, as nmap -sT does: open when the connection is made (syn-ack),
closed when it is refused (conn-refused), filtered when an ICMP error
comes back or every try times out (no-response). Connections made are
reset at once. --rate is in connects per second (default: no limit).

--seed S orders the (target, port) pairs in a pseudo-random order that
depends on S alone; --shard I/N scans only every N-th pair of that order
from the I-th, so that N scans with the same seed (on N machines) cover
every pair once: --shard needs --seed (docs/SCALE.md). --resume FILE writes the SYN scan's progress to FILE
about once a second and when interrupted, and the results so far to
FILE.results; it continues from FILE if it exists (same targets, ports,
seed and shard), and its listing and -oJ, -oG and -oX files then hold
the whole scan, as if it had not been interrupted (FILE.results is
removed when the scan finishes). It needs -sS. The XML of an
interrupted scan says exit="error", as nmap's does. --seed and --shard
work with -sT too.

With more than one address to scan, host discovery comes first, as
nmap's: ARP (IPv4) or a neighbour solicitation (IPv6) to hosts on a local
link, ICMP echo and timestamp, a SYN to 443 and an ACK to 80 to the
others (TCP connects to 80, 443 and 22 without raw sockets); silent hosts
are asked again (--max-retries), and only the hosts up are port-scanned
and listed, then "N hosts up of M scanned". -sn does discovery alone and
lists each host up with the reason (arp-response, echo-reply, syn-ack,
reset...), the latency and, on a local link, the MAC address. -Pn skips
discovery and scans every target. A broadcast address, a target with no
route, or a host unreachable (no ARP answer, an ICMP host unreachable
before any answer) gets one line of its own ("skipped: broadcast
address", "no route", "host unreachable") and the scan goes on.

TARGETs are addresses (192.0.2.1, 2001:db8::1), CIDR blocks
(192.0.2.0/24), nmap octet ranges (10.0.0.1-20, 10.0.0.*) and host names;
-iL FILE reads more from a file (white space separated, # comments).
A host name resolves to one address, IPv4 first, unless --all-addrs. A
host name that does not resolve is reported and the other targets are
scanned; the exit code is then 1.

-p takes a port set (22,80,8000-8100,http,-); by default the 1,000 ports
of the project's top-ports list are scanned, --top N takes the first N.
The timeout adapts to each host's round-trip times unless --timeout.

The table lists the open ports of each host, then how many closed,
filtered (and open|filtered) ports it does not show; --all-states (-v)
shows them.
--format json|jsonl writes the same results as JSON (jsonl as they
arrive). -oJ FILE writes the open (and open|filtered) ports as JSON
lines, every port with --all-states, and a host record per host, -oG FILE nmap's
greppable format, -oX FILE nmap's XML ("-" is standard output, in place of
the table). Each host is written when it is done; -oX and -oG list the
hosts down only if their ports were probed, as nmap's without -v, and
count the others (--all-states lists them all). nmap's single-dash spellings (-iL, -oX, -sT) work, as do
--iL, --oX, --sT.

-sU scans UDP ports instead (with -sT as well: both): open when a
datagram comes back (udp-response), closed on an ICMP port unreachable
(port-unreach), filtered on other ICMP unreachables, open|filtered when
nothing comes back (no-response). Each port gets a probe written for its
protocol (DNS, NTP, SNMP, NetBIOS, SSDP, mDNS, memcached, IKE, QUIC, SIP,
RIP, RPC, STUN, CoAP) or an empty datagram; a recognised reply names the
service. Without -p, -sU scans the 100 UDP ports of the top-ports list.
A host that rate-limits its ICMP errors (Linux: about one a second) has
its silent ports probed again slowly, for at most --udp-ratelimit-wait;
those still silent are open|filtered, never closed. -sU needs Linux.

-sV identifies the services on open TCP ports (greetings, TLS, Redis
PING, HTTP GET) and, with -sU, sends every UDP probe to the UDP ports
that an empty datagram left silent (a reply makes them open), and adds a
VERSION column.

A scan that completes exits 0, open ports or not.`,
		Example: `  ports scan 127.0.0.1
  ports scan -sS -p- --seed 7 --shard 1/2 --resume s1.json 192.0.2.1
  ports scan -p 1-1024 192.0.2.0/28 --format jsonl
  ports scan --top 100 -oX scan.xml -iL hosts.txt
  ports scan -p 22,80,443 --all-states ::1`,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, raw []string) error {
			fs := cmd.Flags()
			if err := fs.Parse(scanRewriteArgs(raw)); err != nil {
				return &usageError{plainFlagError(err)}
			}
			if h, _ := fs.GetBool("help"); h {
				return cmd.Help()
			}
			if err := checkFlagValues(cmd); err != nil {
				return err
			}
			return runScan(cmd, &o, raw, fs.Args())
		},
	}
	fs := cmd.Flags()
	o.ff.add(fs)
	fs.StringVar(&o.inputList, "iL", "", "read targets from `FILE` (-iL)")
	fs.StringVar(&o.exclude, "exclude", "", "do not scan these targets: a comma-separated `LIST`")
	fs.StringVar(&o.excludeFile, "exclude-file", "", "do not scan the targets in `FILE`")
	fs.BoolVar(&o.allAddrs, "all-addrs", false, "scan every address a host name resolves to")
	fs.BoolVarP(&o.v4, "ipv4", "4", false, "IPv4 targets only")
	fs.BoolVarP(&o.v6, "ipv6", "6", false, "IPv6 targets only")
	fs.StringVarP(&o.portArg, "ports", "p", "", "scan these ports: a port `SET` such as 22,80,8000-8100,http")
	fs.IntVar(&o.top, "top", 0, "scan the `N` most common ports")
	fs.StringVar(&o.excludePorts, "exclude-ports", "", "do not scan these ports: a port `SET`")
	fs.BoolVar(&o.sT, "sT", false, "TCP connect scan (-sT; the default without raw sockets)")
	fs.BoolVar(&o.sS, "sS", false, "TCP SYN scan (-sS; the default with root or CAP_NET_RAW)")
	fs.BoolVar(&o.sU, "sU", false, "UDP scan (-sU; with -sS or -sT: both)")
	fs.BoolVar(&o.sV, "sV", false, "service version detection (-sV)")
	fs.BoolVar(&o.sn, "sn", false, "host discovery only: list the hosts that are up, no port scan (-sn)")
	fs.BoolVar(&o.pn, "Pn", false, "no host discovery: scan every target's ports (-Pn)")
	fs.DurationVar(&o.udpWait, "udp-ratelimit-wait", 20*time.Second, "with -sU, spend at most `DUR` per host re-probing silent ports slowly when it rate-limits ICMP errors (0s: do not)")
	fs.Float64Var(&o.rate, "rate", 0, "send at most `N` SYNs (-sS; default 250000) or start at most N connects (-sT; default no limit) per second")
	fs.IntVar(&o.maxRetries, "max-retries", 0, "probe a silent port at most `N` more times (default 4 for -sS, 3 for -sT)")
	fs.DurationVar(&o.timeout, "timeout", 0, "fixed connect timeout, or wait after each SYN round, `DUR` (default: adaptive)")
	fs.Uint64Var(&o.seed, "seed", 0, "order the probes by seed `S` (default: random for -sS, in order for -sT)")
	fs.StringVar(&o.shard, "shard", "", "scan only shard `I/N` of the probes (with the same --seed on every shard)")
	fs.StringVar(&o.resume, "resume", "", "save progress to `FILE`, and continue from it if it exists (-sS)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "at most `N` connects at once (default: from the file descriptor limit)")
	fs.BoolVarP(&o.allStates, "all-states", "v", false, "list closed and filtered ports too (and in -oX and -oG the hosts down, as nmap -v)")
	fs.StringVar(&o.oJ, "oJ", "", "write every result as JSON lines to `FILE` (-oJ)")
	fs.StringVar(&o.oG, "oG", "", "write nmap's greppable output to `FILE` (-oG)")
	fs.StringVar(&o.oX, "oX", "", "write nmap's XML output to `FILE` (-oX)")
	fs.BoolP("help", "h", false, "help for scan")
	return cmd
}

// scanRewriteArgs turns nmap's single-dash options into long ones, up to
// a "--".
func scanRewriteArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) >= 3 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if slices.Contains(scanNmapFlags, name) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// scanPlan is a checked command line, ready to scan.
type scanPlan struct {
	targets      []scan.Target
	unresolved   int
	plan         scan.Plan // its Ports are those of every protocol scanned
	syn          bool      // SYN scan, else connect
	discoverOnly bool      // -sn
	shards       int       // of the scan, for the progress bar
	format       render.Format
}

func runScan(cmd *cobra.Command, o *scanOpts, raw, args []string) error {
	fs := cmd.Flags()
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	format, err := o.ff.get(fs)
	if err != nil {
		return err
	}
	if o.sS && o.sT {
		return usagef("-sS and -sT conflict: give one")
	}
	p := &scanPlan{format: format}
	if err := scanSYNFlags(o, p, fs.Changed("seed")); err != nil {
		return err
	}
	if p.plan.Ports, err = scanPortSet(o, fs.Changed("top")); err != nil {
		return err
	}
	retries := 0
	if fs.Changed("max-retries") {
		switch {
		case o.maxRetries < 0:
			return usagef("--max-retries %d: want 0 or more", o.maxRetries)
		case o.maxRetries == 0:
			retries = -1
		default:
			retries = o.maxRetries
		}
	}
	if o.timeout < 0 || fs.Changed("timeout") && o.timeout == 0 {
		return usagef("--timeout %v: want a positive duration such as 500ms", o.timeout)
	}
	if !(o.rate >= 0) {
		return usagef("--rate %v: want 0 (no limit) or more", o.rate)
	}
	if o.concurrency < 0 {
		return usagef("--concurrency %d: want 1 or more", o.concurrency)
	}
	p.plan.Timeout, p.plan.Rate, p.plan.MaxRetries = o.timeout, o.rate, retries
	p.plan.Connect.Concurrency = o.concurrency
	if err := p.planUDP(o); err != nil {
		return err
	}

	specs := slices.Clone(args)
	if o.inputList != "" {
		more, err := scanReadList(o.inputList, "-iL")
		if err != nil {
			return err
		}
		specs = append(specs, more...)
	}
	topts := &scan.TargetOptions{AllAddrs: o.allAddrs}
	if o.v4 != o.v6 {
		topts.Family = 4
		if o.v6 {
			topts.Family = 6
		}
	}
	for _, e := range strings.Split(o.exclude, ",") {
		if e = strings.TrimSpace(e); e != "" {
			topts.Exclude = append(topts.Exclude, e)
		}
	}
	if o.excludeFile != "" {
		more, err := scanReadList(o.excludeFile, "--exclude-file")
		if err != nil {
			return err
		}
		topts.Exclude = append(topts.Exclude, more...)
	}
	if len(specs) == 0 {
		return usagef("missing TARGET: an address, CIDR block, range or host name to scan")
	}
	if err := p.resolve(ctx, specs, topts, stderr); err != nil {
		return err
	}
	// main collects at GOGC 400, for short runs; a scan of a network
	// holds its target list (about 150 bytes an address, in the scan
	// and its discovery) for minutes, and at 400 the heap grows to five
	// times that: a /16 took 72 MiB instead of 46.
	if len(p.targets) > manyTargets && os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(100))
	}
	if len(p.targets) == 0 {
		if p.unresolved > 0 {
			return errSilent
		}
		return &runError{errors.New("no targets left to scan after the exclusions")}
	}
	if o.sn && o.pn {
		return usagef("-sn and -Pn conflict: -sn is discovery alone, -Pn no discovery")
	}
	// Discovery first when there is more than one address, as nmap's.
	if o.sn || !o.pn && len(p.targets) > 1 {
		p.plan.Discover = scan.DiscoverStage(&scan.DiscoverConfig{Timeout: o.timeout, MaxRetries: retries})
	}
	if o.sn {
		p.plan.Ports = ports.Set{}
		p.discoverOnly = true
	}
	if err := scanExec(ctx, cmd, o, p, raw); err != nil {
		return err
	}
	if p.unresolved > 0 {
		return errSilent
	}
	return nil
}

// scanReadList reads a file of target specs.
func scanReadList(name, flag string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, &runError{fmt.Errorf("%s: %w", flag, err)}
	}
	defer f.Close()
	specs, err := scan.ReadTargetFile(f)
	if err != nil {
		return nil, &runError{fmt.Errorf("%s %s: %w", flag, name, err)}
	}
	return specs, nil
}

// resolve turns the specs into targets. Syntax errors are usage errors;
// a host name that does not resolve is reported on stderr and counted.
func (p *scanPlan) resolve(ctx context.Context, specs []string, topts *scan.TargetOptions, stderr io.Writer) error {
	seen := map[netip.Addr]bool{}
	for t, err := range scan.ParseTargets(ctx, specs, topts) {
		var te *scan.TargetError
		switch {
		case err == nil:
			if !seen[t.Addr] {
				seen[t.Addr] = true
				p.targets = append(p.targets, t)
			}
		case errors.Is(err, scan.ErrNoTargets):
			return usagef("missing TARGET: an address, CIDR block, range or host name to scan")
		case errors.As(err, &te) && (te.Err == nil || errors.Is(err, scan.ErrTooManyTargets)):
			return usagef("%v", err)
		case errors.As(err, &te) && !te.Exclude && ctx.Err() == nil:
			p.unresolved++
			fmt.Fprintf(stderr, "ports scan: %v; scanning the other targets\n", err)
		default:
			return err
		}
	}
	return nil
}

// scanSYNFlags checks --seed, --shard and --resume, and decides between
// the SYN and the connect scan: -sS, -sT, or SYN when a raw socket can be
// opened.
func scanSYNFlags(o *scanOpts, p *scanPlan, seedSet bool) error {
	p.shards = 1
	if o.shard != "" {
		i, n, err := parseShard(o.shard)
		if err != nil {
			return err
		}
		if n > 1 && !seedSet {
			return usagef("--shard %s needs --seed S, the same on every shard: without it each shard draws its own order of the (target, port) pairs, and the shards overlap", o.shard)
		}
		p.plan.SYN.Shard, p.plan.SYN.Shards, p.shards = i, n, n
		p.plan.Connect.Shard, p.plan.Connect.Shards = i, n
	}
	p.plan.SYN.Seed, p.plan.Connect.Seed = o.seed, o.seed
	if seedSet && o.seed == 0 {
		return usagef("--seed 0: want a seed of 1 or more (0 means a random one)")
	}
	needSYN := ""
	if o.resume != "" {
		needSYN = "--resume"
	}
	switch {
	case o.sT && needSYN != "":
		return usagef("%s needs the SYN scan (-sS), not -sT", needSYN)
	case o.sS:
		if err := scan.SYNAvailable(); err != nil {
			return &runError{fmt.Errorf("-sS: %w (run as root, or give the binary CAP_NET_RAW: setcap cap_net_raw+ep)", err)}
		}
		p.syn = true
	case o.sT:
	case o.sU && needSYN == "":
		// -sU alone scans no TCP port: no raw socket to try.
	default:
		p.syn = scan.SYNAvailable() == nil
		if !p.syn && needSYN != "" {
			return &runError{fmt.Errorf("%s needs the SYN scan, which needs raw sockets: run as root or give the binary CAP_NET_RAW", needSYN)}
		}
	}
	p.plan.TCP = scan.EngineConnect
	if p.syn {
		p.plan.TCP = scan.EngineSYN
	}
	return nil
}

// parseShard parses --shard I/N.
func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, usagef("--shard %q: want I/N, such as 1/4", s)
	}
	switch {
	case n < 1:
		return 0, 0, usagef("--shard %s: the number of shards N must be 1 or more", s)
	case i < 1 || i > n:
		return 0, 0, usagef("--shard %s: the shard I must be from 1 to N (%d)", s, n)
	}
	return i, n, nil
}
