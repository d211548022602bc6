package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	ossignal "os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/internal/statedir"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/knock/nftset"
	"github.com/portkit/ports/knock/spa"
)

func newKnockdCmd() *cobra.Command {
	var (
		config     string
		iface      string
		useSPA     bool
		listen     []string
		tcpListen  []string
		spaPort    int
		sniffICMP  bool
		digestFile string
		maxAge     time.Duration
		nftSet     string
		natMap     string
		noLocalNAT bool
		shell      bool
	)
	cmd := &cobra.Command{
		Use:   "knockd -c FILE [-i IFACE] | knockd --spa -c ACCESS_FILE",
		Short: "Run commands when a knock sequence (knockd.conf) or an fwknop SPA packet arrives",
		Long: `Without --spa, read knockd's configuration file (-c) and watch the interface
(-i, else the file's Interface, else eth0) through AF_PACKET (Linux, root
or CAP_NET_RAW) for knock sequences, behaving as knockd 0.8 does: state per
source address, a knock out of order resets it, Seq_Timeout counts from
the first knock, Start_Command runs with %IP% replaced, Stop_Command after
Cmd_Timeout. Commands are split into words as a shell would and run
directly, never through a shell; a command with shell syntax (; | & < >
$VAR $(...) backquotes) is refused, naming its line, unless --shell, which
runs the commands through /bin/sh -c as knockd does, passing the address
as $1 in place of each %IP% instead of pasting it into the text. SIGHUP
reloads the file.

With --spa, read an fwknopd access.conf (a subset: SOURCE, OPEN_PORTS,
KEY_BASE64, HMAC_KEY_BASE64, KEY, HMAC_KEY, HMAC_DIGEST_TYPE,
ENCRYPTION_MODE, FW_ACCESS_TIMEOUT, MAX_FW_TIMEOUT, REQUIRE_SOURCE_ADDRESS,
REQUIRE_USERNAME, CMD_CYCLE_OPEN/CLOSE/TIMER, ENABLE_CMD_EXEC,
CMD_EXEC_USER, CMD_EXEC_GROUP, ENABLE_CMD_SUDO_EXEC (through
/usr/bin/sudo), CMD_SUDO_EXEC_USER/GROUP, FORCE_NAT; stanzas are tried in turn as
fwknopd does) and
receive fwknop SPA packets on UDP port 62201 (--listen; --tcp-listen
also takes fwknop -P tcp and -P http packets over TCP), never answering,
or with -i sniff them on that interface (AF_PACKET, as fwknopd does;
--spa-port another UDP port, --icmp fwknop -P icmp packets too):
the HMAC is checked first, then the packet is decrypted, its timestamp
checked (--max-age) and its digest looked up in the replay cache, which
is kept in --digest-file (default: knockd-spa.digest in the state
directory: $STATE_DIRECTORY, else /var/lib/ports as root, else
$XDG_STATE_HOME/ports, else ~/.local/state/ports), written and synced
before anything is granted, so that a packet is accepted once, restart
or not; the CMD_CYCLE_OPEN command runs
for what the access list grants, and the command of a command message
(fwknop -C) for a stanza with ENABLE_CMD_EXEC Y, split at blanks as
fwknopd splits it and run without a shell, as CMD_EXEC_USER, for at most
5 s. One log line per packet says why it was
rejected, or what it was granted.

--nft-set FAMILY/TABLE/SET also adds each address let in to that nftables
set (which must exist, with "flags timeout", and be used by a rule), with
Cmd_Timeout (knock sequences) or the access timeout (SPA) as the element's
timeout, so that the kernel drops it then. Needs CAP_NET_ADMIN.

--nat-map FAMILY/TABLE/MAP (with --spa) grants NAT access, fwknopd's
ENABLE_IPT_FORWARDING: for a packet of fwknop -N IP:PORT, or a stanza with
FORCE_NAT IP PORT, it maps the client's address, protocol and first port
asked for to IP:PORT in that nftables map, for the access timeout; and
local NAT (fwknop --nat-local, ENABLE_IPT_LOCAL_NAT, which fwknopd enables
by default with forwarding; --no-local-nat refuses it): the port the
client connects to is mapped to a port of this host. The
map and the rule that uses it are the administrator's (docs/SPA.md):
  nft add map ip spa nat '{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }'
  nft add rule ip spa pre dnat ip to ip saddr . meta l4proto . th dport map @nat`,
		Example: `  ports knockd -c /etc/knockd.conf -i eth0
  ports knockd --spa -c /etc/fwknop/access.conf --digest-file /var/lib/ports/spa.cache`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" {
				return usagef("missing -c FILE")
			}
			ctx, stop := ossignal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var set *nftset.Set
			if nftSet != "" {
				name, err := nftset.ParseName(nftSet)
				if err != nil {
					return usagef("--nft-set: %v", err)
				}
				if set, err = nftset.Open(name); err != nil {
					return err
				}
				defer set.Close()
			}
			if useSPA {
				if shell {
					return usagef("--shell is for knock sequences, not --spa")
				}
				var spaOpt spaServerOpts
				if iface != "" && len(listen) > 0 {
					return usagef("-i (sniff) conflicts with --listen (socket)")
				}
				tcpAddrs, err := parseTCPListen(tcpListen)
				if err != nil {
					return err
				}
				if spaPort < 1 || spaPort > 65535 {
					return usagef("--spa-port must be from 1 to 65535, not %d", spaPort)
				}
				if sniffICMP && iface == "" {
					return usagef("--icmp needs -i (ICMP is read by sniffing)")
				}
				spaOpt = spaServerOpts{port: uint16(spaPort), icmp: sniffICMP, tcp: tcpAddrs, noLocalNAT: noLocalNAT}
				if noLocalNAT && natMap == "" {
					return usagef("--no-local-nat needs --nat-map (without it, no NAT is granted)")
				}
				if natMap != "" {
					name, err := nftset.ParseName(natMap)
					if err != nil {
						return usagef("--nat-map: %v", err)
					}
					if spaOpt.nat, err = nftset.OpenNATMap(name); err != nil {
						return err
					}
					defer spaOpt.nat.Close()
				}
				return runSPAServer(ctx, cmd, config, iface, listen, digestFile, maxAge, set, spaOpt)
			}
			if len(listen) > 0 || len(tcpListen) > 0 || digestFile != "" || cmd.Flags().Changed("max-age") || cmd.Flags().Changed("spa-port") || sniffICMP || natMap != "" || noLocalNAT {
				return usagef("--listen, --tcp-listen, --spa-port, --icmp, --nat-map, --no-local-nat, --digest-file and --max-age need --spa")
			}
			return runKnockd(ctx, cmd, config, iface, set, knock.ConfigOptions{Shell: shell})
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&config, "config", "c", "", "the knockd.conf file, or with --spa the access.conf file")
	fs.StringVarP(&iface, "interface", "i", "", "the interface to watch (default: the file's Interface, else eth0); with --spa, sniff UDP 62201 there instead of listening")
	fs.BoolVar(&useSPA, "spa", false, "serve fwknop SPA instead of knock sequences")
	fs.StringSliceVar(&listen, "listen", nil, "SPA: UDP addresses to listen on (default 0.0.0.0:62201 and [::]:62201)")
	fs.IntVar(&spaPort, "spa-port", spa.DefaultPort, "SPA: the UDP port to sniff with -i, and to listen on without --listen")
	fs.BoolVar(&sniffICMP, "icmp", false, "SPA: with -i, also take packets in ICMP messages (fwknop -P icmp)")
	fs.StringSliceVar(&tcpListen, "tcp-listen", nil, "SPA: also take packets over TCP and HTTP (fwknop -P tcp, -P http) on these addresses")
	fs.StringVar(&digestFile, "digest-file", "", "SPA: keep the replay cache in this file (default: knockd-spa.digest in the state directory)")
	fs.DurationVar(&maxAge, "max-age", spa.DefaultMaxAge, "SPA: the largest difference allowed between a packet's timestamp and the clock")
	fs.BoolVar(&shell, "shell", false, "run Start_Command and Stop_Command through /bin/sh -c as knockd does, so that shell syntax works (%IP% is passed as $1, never pasted into the text); without it a command with shell syntax is refused")
	fs.StringVar(&nftSet, "nft-set", "", "also add each address let in to this nftables set (FAMILY/TABLE/SET, with flags timeout)")
	fs.StringVar(&natMap, "nat-map", "", "SPA: grant NAT access (fwknop -N, FORCE_NAT; fwknopd's ENABLE_IPT_FORWARDING) and local NAT (fwknop --nat-local; ENABLE_IPT_LOCAL_NAT) by adding elements to this nftables DNAT map (FAMILY/TABLE/MAP: ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service, flags timeout)")
	fs.BoolVar(&noLocalNAT, "no-local-nat", false, "SPA: with --nat-map, refuse local NAT requests (fwknop --nat-local), as fwknopd's ENABLE_IPT_LOCAL_NAT N")
	return cmd
}

func runKnockd(ctx context.Context, cmd *cobra.Command, path, iface string, set *nftset.Set, opts knock.ConfigOptions) error {
	cfg, err := knock.LoadConfigWith(path, opts)
	if err != nil {
		return configError(cmd.ErrOrStderr(), err)
	}
	logs := []io.Writer{cmd.ErrOrStderr()}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = append(logs, f)
	}
	log := serverLogger(ctx, journalLineLogger(logs...).Handler())
	svc, err := startService(ctx, log)
	if err != nil {
		return err
	}
	if cfg.UseSyslog {
		log.Info("UseSyslog: ports logs to standard error (and LogFile), not to syslog")
	}
	if iface == "" {
		iface = cfg.Interface
	}
	if iface == "" {
		iface = "eth0"
	}
	scfg := knock.ServerConfig{Config: cfg, Logger: log, Listening: svc.knockdListening(len(cfg.Doors))}
	if set != nil {
		scfg.OnOpen = func(d knock.Door, src netip.Addr) {
			timeout := d.CmdTimeout
			if timeout <= 0 {
				timeout = knock.DefaultCmdTimeout
			}
			if err := set.Add(src, timeout); err != nil {
				log.Error(err.Error())
			} else {
				log.Info(fmt.Sprintf("%s: %s: added to nftables set for %v", src, d.Name, timeout))
			}
		}
	}
	srv, err := knock.NewServer(scfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	r := newReloads("", 0, 0)
	defer r.Stop()
	go func() {
		var doors int
		r.run(ctx, svc, func() error {
			c, err := knock.LoadConfigWith(path, opts)
			if err != nil {
				return err // the old doors stay
			}
			srv.Reload(c)
			doors = len(c.Doors)
			return nil
		}, func(_ string, err error) {
			if err != nil {
				log.Error(fmt.Sprintf("reload: %v: keeping the old configuration", err))
				svc.knockdReloaded(0, err)
				return
			}
			svc.knockdReloaded(doors, nil)
		})
	}()
	log.Info(fmt.Sprintf("starting on %s with %d doors", iface, len(cfg.Doors)))
	err = srv.Sniff(ctx, iface)
	if errors.Is(err, context.Canceled) {
		svc.stopping()
		log.Info("shutting down")
		return nil
	}
	return err
}

func runSPAServer(ctx context.Context, cmd *cobra.Command, path, iface string, listen []string, digestFile string, maxAge time.Duration, set *nftset.Set, o spaServerOpts) error {
	data, err := cfgfile.Read(path, 0)
	if err != nil {
		return usagef("%v", err)
	}
	access, err := spa.ParseAccessFile(bytes.NewReader(data), path)
	if err != nil {
		return configError(cmd.ErrOrStderr(), err)
	}
	for _, st := range access {
		if st.ForceNAT.IsValid() && o.nat == nil {
			// fwknopd refuses it at start without ENABLE_IPT_FORWARDING.
			return usagef("%s:%d: FORCE_NAT needs --nat-map (fwknopd's ENABLE_IPT_FORWARDING): the nftables map that forwards the connections", path, st.Line)
		}
	}
	if maxAge <= 0 {
		return usagef("--max-age must be positive, not %v", maxAge)
	}
	addrs := []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), o.port), netip.AddrPortFrom(netip.IPv6Unspecified(), o.port)}
	if len(listen) > 0 {
		addrs = nil
		for _, l := range listen {
			ap, err := netip.ParseAddrPort(l)
			if err != nil {
				return usagef("--listen %q is not ADDR:PORT", l)
			}
			addrs = append(addrs, ap)
		}
	}
	if digestFile == "" {
		if digestFile, err = statedir.File("knockd-spa.digest"); err != nil {
			return fmt.Errorf("the SPA digest file: %w (or give --digest-file)", err)
		}
	}
	replay, err := spa.OpenReplayCache(digestFile, maxAge)
	var ce *cfgfile.Error
	if errors.As(err, &ce) {
		return usagef("%v", err)
	} else if err != nil {
		return err
	}
	defer replay.Close()
	log := serverLogger(ctx, journalLineLogger(cmd.ErrOrStderr()).Handler())
	log.Info(fmt.Sprintf("replay cache in %s (%d packets remembered)", digestFile, replay.Len()))
	svc, err := startService(ctx, log)
	if err != nil {
		return err
	}
	scfg := spa.ServerConfig{Access: access, Replay: replay, MaxAge: maxAge, Logger: log, SniffICMP: o.icmp, NAT: o.nat != nil, LocalNAT: o.nat != nil && !o.noLocalNAT}
	scfg.OnGrant = func(g spa.Grant) {
		switch {
		case g.NAT.IsValid():
			// As fwknopd: the first port asked for is forwarded.
			p := g.Ports[0]
			if err := o.nat.Add(g.AllowIP, uint8(p.Proto), uint16(p.Port), g.NAT, g.Timeout); err != nil {
				log.Error(err.Error())
			} else {
				log.Info(fmt.Sprintf("%s: %s mapped to %s in the nftables NAT map for %v", g.AllowIP, p, g.NAT, g.Timeout))
			}
		case set != nil:
			if err := set.Add(g.AllowIP, g.Timeout); err != nil {
				log.Error(err.Error())
			} else {
				log.Info(fmt.Sprintf("%s: added to nftables set for %v", g.AllowIP, g.Timeout))
			}
		}
	}
	srv, err := spa.NewServer(scfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	waitTCP, err := startSPATCP(ctx, srv, log, o.tcp)
	if err != nil {
		return err
	}
	defer waitTCP()
	if iface != "" {
		svc.readyText("sniffing SPA on " + iface) // Sniff has no hook: ready as it starts
		err := srv.Sniff(ctx, iface, o.port)
		if ctx.Err() != nil {
			svc.stopping()
			log.Info("shutting down")
			return nil
		}
		return err
	}
	err = srv.ListenAndServe(ctx, addrs, func(a netip.AddrPort) {
		log.Info(fmt.Sprintf("receiving SPA packets on udp %s", a))
		svc.spaListening(a, len(addrs))
	})
	if ctx.Err() != nil {
		svc.stopping()
		log.Info("shutting down")
		return nil
	}
	return err
}
