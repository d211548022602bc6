package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/mapper/config"
	"github.com/portkit/ports/mapper/control"
	"github.com/portkit/ports/mapper/metrics"
)

// runFlags are the flags of every command that runs rules.
type runFlags struct {
	logFormat    string
	metrics      string
	metricsAllow []string
	metricsACL   *acl.List // from metricsAllow, set by check
	control      string    // serve's --control socket; "" for none
}

func (f *runFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on ADDR (HOST:PORT) at /metrics")
	fs.StringArrayVar(&f.metricsAllow, "metrics-allow", nil, "let this `CIDR` read the metrics (repeatable; required unless --metrics is on loopback)")
}

func (f *runFlags) check() error {
	if f.logFormat != "text" && f.logFormat != "json" {
		return usagef("--log-format %q: want text or json", f.logFormat)
	}
	if f.metrics == "" {
		if len(f.metricsAllow) > 0 {
			return usagef("--metrics-allow needs --metrics")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(f.metrics)
	if err != nil {
		return usagef("--metrics %q is not HOST:PORT", f.metrics)
	}
	if len(f.metricsAllow) == 0 {
		// The metrics name every rule, its traffic and its refusals: as
		// with a rule, listening beyond loopback needs a list of readers.
		if a, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !a.IsLoopback()) {
			return usagef("--metrics %s is not on loopback: name who may read it with --metrics-allow CIDR", f.metrics)
		}
		return nil
	}
	if f.metricsACL, err = acl.ParseList(f.metricsAllow, nil); err != nil {
		return usagef("--metrics-allow: %v", err)
	}
	return nil
}

// permitListener closes at once the connections whose source list does
// not permit.
type permitListener struct {
	net.Listener
	list *acl.List
}

func (l permitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil && l.list.Permit(ap.Addr()) {
			return c, nil
		}
		c.Close()
	}
}

// ruleFlags are the rule settings shared by `ports map` and `ports proxy`.
type ruleFlags struct {
	name              string
	allow, deny       []string
	bind              string
	maxConns          int
	maxConnsPerSource int
	idleTimeout       time.Duration
	finTimeout        time.Duration
	handshakeTimeout  time.Duration
	acceptProxyFrom   []string
}

func (f *ruleFlags) add(fs *pflag.FlagSet, defName string) {
	fs.StringVar(&f.name, "name", defName, "rule name in logs and metrics")
	fs.StringArrayVar(&f.allow, "allow", nil, "client CIDR allowed (repeatable; an address means /32 or /128)")
	fs.StringArrayVar(&f.deny, "deny", nil, "client CIDR denied even if allowed (repeatable)")
	fs.StringVar(&f.bind, "bind", "", "local address of upstream connections")
	fs.IntVar(&f.maxConns, "max-conns", 0, "connections (UDP sessions) at once (0: 10000, or what the fd limit fits at 2 each)")
	fs.IntVar(&f.maxConnsPerSource, "max-conns-per-source", 0, "connections at once per client address (0: no limit)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 0, "end a connection (UDP session) idle this long (0: 5m; UDP 60s)")
	fs.DurationVar(&f.finTimeout, "fin-timeout", 0, "end a half-closed connection after this long (0: 30s)")
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", 0, "deadline of each handshake phase (0: 10s)")
	fs.StringArrayVar(&f.acceptProxyFrom, "accept-proxy-from", nil, "CIDR of peers that must send a PROXY protocol header (repeatable)")
}

func (f *ruleFlags) fill(r *mapper.Rule) error {
	r.Name = f.name
	if len(f.allow) > 0 || len(f.deny) > 0 {
		if len(f.allow) == 0 {
			return usagef("--deny without --allow: an empty allow-list lets nobody in")
		}
		l, err := acl.ParseList(f.allow, f.deny)
		if err != nil {
			return usagef("%v", err)
		}
		r.Allow = l
	}
	if f.bind != "" {
		a, err := netip.ParseAddr(f.bind)
		if err != nil {
			return usagef("--bind %q is not an IP address", f.bind)
		}
		r.Bind = a
	}
	for _, s := range f.acceptProxyFrom {
		p, err := acl.ParsePrefix(s)
		if err != nil {
			return usagef("--accept-proxy-from: %v", err)
		}
		r.AcceptProxyFrom = append(r.AcceptProxyFrom, p)
	}
	if f.maxConns < 0 || f.maxConnsPerSource < 0 {
		return usagef("--max-conns and --max-conns-per-source must not be negative")
	}
	r.MaxConns, r.MaxConnsPerSource = f.maxConns, f.maxConnsPerSource
	r.IdleTimeout, r.FinTimeout, r.HandshakeTimeout = f.idleTimeout, f.finTimeout, f.handshakeTimeout
	return nil
}

// validateCLI checks a rule from the command line, turning its problems
// into usage errors that name the flags.
func validateCLI(r *mapper.Rule) error {
	err := r.Validate()
	if err == nil {
		return nil
	}
	var oe *mapper.OpenRelayError
	if errors.As(err, &oe) {
		what := "--allow"
		if oe.Proxy {
			what = "--allow and no --auth"
		}
		return usagef("rule %q listens on %s but names no %s: %v", oe.Rule, oe.Listen, what, mapper.ErrOpenRelay)
	}
	var re *mapper.RuleError
	if errors.As(err, &re) {
		return usagef("%s: %v", re.Field, re.Err)
	}
	return usagef("%v", err)
}

// healthFlags are the health-check flags of `ports map`.
type tlsFlags struct {
	cert, key      string
	alpn           []string
	to             bool
	toName, toCA   string
	toInsecureSkip bool
}

func (f *tlsFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "terminate TLS (1.2, 1.3) with this PEM certificate (chain) `FILE`; re-read on SIGHUP")
	fs.StringVar(&f.key, "tls-key", "", "the PEM key `FILE` of --tls-cert")
	fs.StringSliceVar(&f.alpn, "alpn", nil, "answer the clients' ALPN offers from these `PROTOCOLS` (h2,http/1.1: the first of these the client offers; --tls-cert without --to-tls)")
	fs.BoolVar(&f.to, "to-tls", false, "speak TLS to the destinations (verified against the system's roots or --to-ca)")
	fs.StringVar(&f.toName, "to-server-name", "", "the name to verify a destination's certificate for (default: its host)")
	fs.StringVar(&f.toCA, "to-ca", "", "verify destinations against the PEM certificates in `FILE`")
	fs.BoolVar(&f.toInsecureSkip, "to-insecure-skip-verify", false, "do not verify the destinations' certificates")
}

func (f *tlsFlags) fill(r *mapper.Rule) {
	r.TLSCert, r.TLSKey, r.ALPN = f.cert, f.key, f.alpn
	r.ToTLS, r.ToServerName, r.ToCA, r.ToInsecureSkipVerify = f.to, f.toName, f.toCA, f.toInsecureSkip
}

type healthFlags struct {
	check        string
	interval     time.Duration
	timeout      time.Duration
	rise, fall   int
	path, status string
}

func (f *healthFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.check, "check", "", "health-check each DEST: tcp (connect), http (GET --check-path) or tls (handshake)")
	fs.DurationVar(&f.interval, "check-interval", 0, "time between checks of one DEST (0: 2s, haproxy's inter)")
	fs.DurationVar(&f.timeout, "check-timeout", 0, "deadline of one check (0: the interval)")
	fs.IntVar(&f.rise, "rise", 0, "passed checks that put a down DEST back (0: 2)")
	fs.IntVar(&f.fall, "fall", 0, "failures in a row (checks or dials) that take a DEST out (0: 3)")
	fs.StringVar(&f.path, "check-path", "", "path of an http check (default /)")
	fs.StringVar(&f.status, "check-status", "", "statuses an http check accepts, such as 200-299 (default 200-399)")
}

func (f *healthFlags) fill(r *mapper.Rule) error {
	c, err := mapper.ParseCheck(f.check)
	if err != nil {
		return usagef("--check: %v", err)
	}
	r.Check = c
	r.CheckInterval, r.CheckTimeout, r.Rise, r.Fall, r.CheckPath = f.interval, f.timeout, f.rise, f.fall, f.path
	if f.status != "" {
		if r.CheckStatus, err = mapper.ParseStatusRange(f.status); err != nil {
			return usagef("--check-status: %v", err)
		}
	}
	return nil
}

func newMapCmd() *cobra.Command {
	var (
		rf            ruleFlags
		hf            healthFlags
		tf            tlsFlags
		run           runFlags
		proxyProtocol string
		balance       string
		sni, host     []string
	)
	cmd := &cobra.Command{
		Use:   "map [tcp|udp] LISTEN DEST... [flags]",
		Short: "Forward a local port to one or more destinations",
		Long: `Forward every TCP connection (or UDP session) arriving on LISTEN to DEST.

LISTEN is HOST:PORT, :PORT (every address) or IFACE:PORT (the interface's
IPv4 and IPv6 addresses, link-local IPv6 excepted). Several DESTs are used
round-robin (--balance: leastconn, source, first); one whose dial fails is
skipped for 10s and re-checked. A DEST may carry options after a space, in
one argument: "10.0.0.5:80 weight=3 max_conns=100" (weight 1-256: its share
against the others'; max_conns: connections to it at once).

With --check (tcp, http or tls), each DEST is checked every
--check-interval: one that fails --fall times in a row (checks, or dials of
clients) leaves the rotation until it passes --rise checks, as haproxy's
check inter/rise/fall; each change is logged once. When every DEST is down
clients are refused at once: a TCP reset, or with --check http a 503.

--tls-cert and --tls-key terminate TLS (1.2 and 1.3) and relay the
plaintext; --to-tls speaks TLS to the destinations. With both, the
client's ALPN offer goes to the destination and its choice is the
client's; with --tls-cert alone, --alpn answers it.

--sni NAME=DEST[,DEST...] and --host NAME=DEST[,DEST...] (repeatable)
route one port to many services by the TLS server name (read from the
ClientHello without terminating, so the DEST completes the handshake;
with --tls-cert, the name of the handshake terminated here) or by the
HTTP Host; NAME is exact or *.NAME. The DESTs after LISTEN then serve
the names no route has; without any, those are refused (a TLS alert
unrecognized_name, or 421).

A mapping that listens on anything but loopback must name who may use it
with --allow, or it refuses to start: no open relay by accident.

Bulk TCP transfers are moved by the kernel (splice) between the two
sockets; small ones are read and written through a pooled buffer.
Each connection end is logged with its bytes each way and duration.
Stops on SIGINT/SIGTERM, letting connections finish for up to 5s.`,
		Example: `  ports map 127.0.0.1:8080 127.0.0.1:80
  ports map :8080 10.0.0.5:80 10.0.0.6:80 --allow 192.168.1.0/24
  ports map 127.0.0.1:8080 127.0.0.1:8081 127.0.0.1:8082 --check http --check-path /health --check-interval 1s
  ports map 127.0.0.1:8080 "127.0.0.1:8081 weight=3" 127.0.0.1:8082 --balance source
  ports map :443 127.0.0.1:8080 --tls-cert site.pem --tls-key site.key --allow 192.168.1.0/24
  ports map :443 --sni a.test=10.0.0.5:443 --sni "*.b.test=10.0.0.6:443,10.0.0.7:443" --allow 192.168.1.0/24
  ports map 127.0.0.1:8080 127.0.0.1:9000 --host a.test=127.0.0.1:9001
  ports map udp 127.0.0.1:5353 127.0.0.1:53
  ports map eth0:2222 10.0.0.7:22 --allow 10.0.0.0/8 --proxy-protocol v2 --metrics 127.0.0.1:9100`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := run.check(); err != nil {
				return err
			}
			r := mapper.Rule{Type: mapper.TCP}
			if len(args) > 0 && (args[0] == "tcp" || args[0] == "udp") {
				r.Type, _ = mapper.ParseType(args[0])
				args = args[1:]
			}
			routes, err := parseRouteFlags(sni, host)
			if err != nil {
				return err
			}
			switch {
			case len(args) == 0:
				return usagef("need LISTEN")
			case len(args) < 2 && len(routes) == 0:
				return usagef("need LISTEN and at least one DEST (or --sni, --host)")
			}
			r.Listen = args[0]
			if len(routes) > 0 {
				r.Routes, r.DefaultTo = routes, args[1:]
			} else {
				r.To = args[1:]
			}
			if err := rf.fill(&r); err != nil {
				return err
			}
			if err := hf.fill(&r); err != nil {
				return err
			}
			tf.fill(&r)
			b, err := mapper.ParseBalance(balance)
			if err != nil {
				return usagef("--balance: %v", err)
			}
			r.Balance = b
			switch proxyProtocol {
			case "":
			case "v1":
				r.ProxyProtocol = 1
			case "v2":
				r.ProxyProtocol = 2
			default:
				return usagef("--proxy-protocol %q: want v1 or v2", proxyProtocol)
			}
			if err := validateCLI(&r); err != nil {
				return err
			}
			return runRules(cmd.Context(), cmd.ErrOrStderr(), run, []mapper.Rule{r}, nil, "")
		},
	}
	rf.add(cmd.Flags(), "map")
	hf.add(cmd.Flags())
	tf.add(cmd.Flags())
	run.add(cmd.Flags())
	cmd.Flags().StringVar(&balance, "balance", "", "roundrobin (default), leastconn, source (a consistent hash of the client address) or first")
	cmd.Flags().StringVar(&proxyProtocol, "proxy-protocol", "", "send a PROXY protocol header (v1 or v2) to the destination first")
	cmd.Flags().StringArrayVar(&sni, "sni", nil, "route TLS server name `NAME=DEST[,DEST...]` (exact or *.NAME; repeatable)")
	cmd.Flags().StringArrayVar(&host, "host", nil, "route HTTP Host `NAME=DEST[,DEST...]` (exact or *.NAME; repeatable)")
	return cmd
}

// parseRouteFlags turns --sni and --host values into routes, in order.
func parseRouteFlags(sni, host []string) ([]mapper.Route, error) {
	var routes []mapper.Route
	for _, kind := range []struct {
		flag string
		vals []string
	}{{"--sni", sni}, {"--host", host}} {
		for _, v := range kind.vals {
			name, dests, ok := strings.Cut(v, "=")
			if !ok || name == "" || dests == "" {
				return nil, usagef("%s %q: want NAME=DEST[,DEST...]", kind.flag, v)
			}
			ro := mapper.Route{To: strings.Split(dests, ",")}
			if kind.flag == "--sni" {
				ro.SNI = name
			} else {
				ro.Host = name
			}
			routes = append(routes, ro)
		}
	}
	return routes, nil
}

func newProxyCmd() *cobra.Command {
	var (
		rf           ruleFlags
		run          runFlags
		auth         []string
		allowDest    []string
		connectPorts string
	)
	cmd := &cobra.Command{
		Use:   "proxy http|socks5 LISTEN [flags]",
		Short: "Run an HTTP or SOCKS5 proxy",
		Long: `Run a forward proxy on LISTEN: http (CONNECT and absolute-URI requests) or
socks5 (SOCKS5 CONNECT and UDP ASSOCIATE, and SOCKS4/4a without --auth).

Destinations are checked on the IP actually dialled: loopback, private,
link-local, CGNAT, ULA and their IPv4-mapped forms are refused unless
--allow-dest covers them. HTTP CONNECT reaches port 443 only, unless
--connect-ports. A proxy listening on anything but loopback needs --allow
or --auth, or it refuses to start.`,
		Example: `  ports proxy socks5 127.0.0.1:1080
  ports proxy http :3128 --auth alice:secret --allow 192.168.0.0/16
  ports proxy http 127.0.0.1:3128 --allow-dest 10.0.0.0/8 --connect-ports 443,8443`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := run.check(); err != nil {
				return err
			}
			if len(args) != 2 {
				return usagef("need http|socks5 and LISTEN")
			}
			var r mapper.Rule
			switch args[0] {
			case "http":
				r.Type = mapper.HTTP
			case "socks5", "socks":
				r.Type = mapper.SOCKS5
			default:
				return usagef("unknown proxy type %q: want http or socks5", args[0])
			}
			r.Listen = args[1]
			if err := rf.fill(&r); err != nil {
				return err
			}
			for _, a := range auth {
				u, p, ok := cutUserPass(a)
				if !ok {
					return usagef("--auth wants user:pass")
				}
				if r.Users == nil {
					r.Users = map[string]string{}
				}
				r.Users[u] = p
			}
			for _, s := range allowDest {
				p, err := acl.ParsePrefix(s)
				if err != nil {
					return usagef("--allow-dest: %v", err)
				}
				r.AllowDest = append(r.AllowDest, p)
			}
			if connectPorts != "" {
				if r.Type != mapper.HTTP {
					return usagef("--connect-ports is for http proxies")
				}
				set, err := ports.ParseSet(connectPorts, nil)
				if err != nil {
					return usagef("--connect-ports: %v", err)
				}
				r.ConnectPorts = set
			}
			if err := validateCLI(&r); err != nil {
				return err
			}
			return runRules(cmd.Context(), cmd.ErrOrStderr(), run, []mapper.Rule{r}, nil, "")
		},
	}
	rf.add(cmd.Flags(), "proxy")
	run.add(cmd.Flags())
	cmd.Flags().StringArrayVar(&auth, "auth", nil, "require this user:pass (repeatable)")
	cmd.Flags().StringArrayVar(&allowDest, "allow-dest", nil, "destination CIDR allowed although not global (repeatable)")
	cmd.Flags().StringVar(&connectPorts, "connect-ports", "", "ports CONNECT may reach (http; default 443)")
	return cmd
}

func cutUserPass(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

func newServeCmd() *cobra.Command {
	var (
		run            runFlags
		file           string
		check          bool
		watch          bool
		interval       time.Duration
		status         bool
		drain, undrain string
		format         string
	)
	cmd := &cobra.Command{
		Use:   "serve -c FILE [flags]",
		Short: "Run the mappings and proxies of a TOML file",
		Long: `Run every [[rule]] of a TOML file (see the mapper/config package for keys).

--check validates the file, prints every problem as FILE:LINE: ... and
exits 2 if there is any (as for any bad configuration file: one that
cannot be read, is not a regular file or is too large). SIGHUP, and with --watch a change of the file's
content, reloads it: unchanged rules keep running with their connections,
changed ones restart, removed ones stop accepting and let their TCP
connections finish; a file with problems keeps the old rules and logs why.

--control PATH serves a Unix socket (mode 0600; on Linux only the
server's user and root are answered) through which --status prints the
rules, their destinations with health and connections, bytes and
refusals, and --drain RULE/DEST takes a destination out of rotation
without a reload (--undrain puts it back; a restart of the rule forgets).`,
		Example: `  ports serve -c ports.toml --check
  ports serve -c ports.toml --watch --log-format json --metrics 127.0.0.1:9100
  ports serve -c ports.toml --control /run/ports/control.sock
  ports serve --control /run/ports/control.sock --status
  ports serve --control /run/ports/control.sock --drain web/10.0.0.6:80`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status || drain != "" || undrain != "" {
				return controlCommand(cmd.Context(), cmd.OutOrStdout(), run.control, status, drain, undrain, format)
			}
			if err := run.check(); err != nil {
				return err
			}
			if file == "" {
				return usagef("-c FILE is required")
			}
			if interval <= 0 {
				return usagef("--watch-interval must be positive")
			}
			rules, err := config.Load(file)
			if err != nil {
				return configError(cmd.ErrOrStderr(), err)
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d rules, no problems\n", file, len(rules))
				return nil
			}
			w := ""
			if watch {
				w = file
			}
			return runRules(cmd.Context(), cmd.ErrOrStderr(), run, rules, func() ([]mapper.Rule, error) { return config.Load(file) }, w, interval)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&file, "config", "c", "", "the TOML rule file")
	fs.BoolVar(&check, "check", false, "only validate the file")
	fs.BoolVar(&watch, "watch", false, "reload when the file's content changes")
	fs.DurationVar(&interval, "watch-interval", time.Second, "how often --watch looks at the file")
	fs.StringVar(&run.control, "control", "", "serve a control socket at `PATH` (owner-only), or with --status/--drain ask the server at PATH")
	fs.BoolVar(&status, "status", false, "print the running server's rules and destinations (health, connections, bytes, refusals) from --control")
	fs.StringVar(&drain, "drain", "", "take `RULE/DEST` out of rotation in the running server (open connections go on), through --control")
	fs.StringVar(&undrain, "undrain", "", "put a drained `RULE/DEST` back, through --control")
	fs.StringVar(&format, "format", "table", "--status output: table or json")
	run.add(fs)
	return cmd
}

// runRules runs rules until ctx ends. reload, if not nil, gives the new
// rules on SIGHUP, and when watch names a file, when its content changes.
func runRules(ctx context.Context, stderr io.Writer, run runFlags, rules []mapper.Rule, reload func() ([]mapper.Rule, error), watch string, interval ...time.Duration) error {
	var h slog.Handler
	if run.logFormat == "json" {
		h = slog.NewJSONHandler(stderr, nil)
	} else {
		h = textHandler(stderr)
	}
	log := serverLogger(ctx, h)
	svc, err := startService(ctx, log)
	if err != nil {
		return err
	}
	cfg := &mapper.Config{Logger: log, Sockets: svc.sockets()}
	if run.metrics != "" {
		m := metrics.New()
		cfg.Observer = m
		ln, err := net.Listen("tcp", run.metrics)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		if run.metricsACL != nil {
			ln = permitListener{ln, run.metricsACL}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		log.Info("metrics", "addr", ln.Addr().String())
	}
	// SIGHUP is caught before the listeners open, so whoever sees them
	// may signal a reload.
	var r *reloads
	if reload != nil {
		every := time.Duration(0)
		if len(interval) > 0 {
			every = interval[0]
		}
		r = newReloads(watch, config.MaxFileSize, every)
		defer r.Stop()
	}
	srv := mapper.New(cfg)
	if err := srv.Apply(rules); err != nil {
		srv.Close()
		return err
	}
	if run.control != "" {
		ln, err := control.Listen(run.control)
		if err != nil {
			srv.Close()
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); control.Serve(cctx, ln, srv, log) }()
		defer func() { cancel(); <-done; os.Remove(run.control) }()
		log.Info("control socket", "path", run.control)
	}
	svc.ready(srv, len(rules))
	if r != nil {
		// --watch also watches the running rules' TLS files, so a renewed
		// certificate is reloaded as a changed rule file is.
		cur := rules
		r.watchAlso(func() []string { return tlsFiles(cur) })
		var n int
		r.run(ctx, svc, func() error {
			rs, err := reload()
			if err == nil {
				err = srv.Apply(rs) // on an error, Apply keeps the old rules
			}
			if err == nil {
				cur = rs
			}
			n = len(rs)
			return err
		}, func(why string, err error) {
			svc.reloaded(srv, err)
			if err != nil {
				log.Error("reload failed; the old rules keep running", "trigger", why, "err", err.Error())
				return
			}
			log.Info("reloaded", "trigger", why, "rules", n)
		})
	}
	<-ctx.Done()
	svc.stopping()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// tlsFiles are the certificate, key and CA files the rules read.
func tlsFiles(rules []mapper.Rule) []string {
	var out []string
	for _, r := range rules {
		for _, f := range []string{r.TLSCert, r.TLSKey, r.ToCA} {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// controlCommand is serve --status, --drain and --undrain: a request
// to a running server's control socket.
func controlCommand(ctx context.Context, stdout io.Writer, path string, status bool, drain, undrain, format string) error {
	if path == "" {
		return usagef("--status, --drain and --undrain need --control PATH (the running server's socket)")
	}
	if n := btoi(status) + btoi(drain != "") + btoi(undrain != ""); n > 1 {
		return usagef("give one of --status, --drain and --undrain")
	}
	if format != "table" && format != "json" {
		return usagef("--format %q: want table or json", format)
	}
	if !status {
		target, on := drain, true
		if undrain != "" {
			target, on = undrain, false
		}
		// The destination is HOST:PORT, whose host may hold no slash:
		// the rule is what comes before the first one.
		rule, dest, ok := strings.Cut(target, "/")
		if !ok || rule == "" || dest == "" {
			return usagef("--drain/--undrain %q: want RULE/HOST:PORT", target)
		}
		resp, err := control.Do(ctx, path, control.Request{Op: "drain", Rule: rule, Dest: dest, Drain: on})
		if err != nil {
			return err
		}
		what := "drained"
		if !on {
			what = "back in rotation"
		}
		fmt.Fprintf(stdout, "%s/%s: %s (%d)\n", rule, dest, what, resp.Changed)
		return nil
	}
	resp, err := control.Do(ctx, path, control.Request{Op: "status"})
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp)
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tTYPE\tLISTEN\tACTIVE\tBYTES UP\tBYTES DOWN\tREFUSED")
	for _, r := range resp.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Name, r.Type, strings.Join(r.Listen, ","), r.Active, r.Up, r.Down, r.Refused)
	}
	tw.Flush()
	first := true
	for _, r := range resp.Rules {
		for _, d := range r.Dests {
			if first {
				fmt.Fprintln(stdout)
				fmt.Fprintln(tw, "RULE\tROUTE\tDESTINATION\tWEIGHT\tSTATE\tACTIVE")
				first = false
			}
			state := "up"
			switch {
			case d.Drained:
				state = "drained"
			case !d.Up:
				state = "down"
			}
			route := d.Route
			if route == "" {
				route = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\n", r.Name, route, d.Addr, d.Weight, state, d.Active)
		}
	}
	return tw.Flush()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
