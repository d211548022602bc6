package cli

import (
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
		digestFile string
		maxAge     time.Duration
		nftSet     string
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
directly, never through a shell. SIGHUP reloads the file.

With --spa, read an fwknopd access.conf (a subset: SOURCE, OPEN_PORTS,
KEY_BASE64, HMAC_KEY_BASE64, KEY, HMAC_KEY, FW_ACCESS_TIMEOUT,
REQUIRE_SOURCE_ADDRESS, REQUIRE_USERNAME, CMD_CYCLE_OPEN/CLOSE/TIMER) and
receive fwknop SPA packets on UDP port 62201 (--listen), never answering,
or with -i sniff them on that interface (AF_PACKET, as fwknopd does):
the HMAC is checked first, then the packet is decrypted, its timestamp
checked (--max-age) and its digest looked up in the replay cache
(--digest-file keeps it across restarts); the CMD_CYCLE_OPEN command runs
for what the access list grants. One log line per packet says why it was
rejected, or what it was granted.

--nft-set FAMILY/TABLE/SET also adds each address let in to that nftables
set (which must exist, with "flags timeout", and be used by a rule), with
Cmd_Timeout (knock sequences) or the access timeout (SPA) as the element's
timeout, so that the kernel drops it then. Needs CAP_NET_ADMIN.`,
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
				if iface != "" && len(listen) > 0 {
					return usagef("-i (sniff) conflicts with --listen (socket)")
				}
				return runSPAServer(ctx, cmd, config, iface, listen, digestFile, maxAge, set)
			}
			if len(listen) > 0 || digestFile != "" || cmd.Flags().Changed("max-age") {
				return usagef("--listen, --digest-file and --max-age need --spa")
			}
			return runKnockd(ctx, cmd, config, iface, set)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&config, "config", "c", "", "the knockd.conf file, or with --spa the access.conf file")
	fs.StringVarP(&iface, "interface", "i", "", "the interface to watch (default: the file's Interface, else eth0); with --spa, sniff UDP 62201 there instead of listening")
	fs.BoolVar(&useSPA, "spa", false, "serve fwknop SPA instead of knock sequences")
	fs.StringSliceVar(&listen, "listen", nil, "SPA: UDP addresses to listen on (default 0.0.0.0:62201 and [::]:62201)")
	fs.StringVar(&digestFile, "digest-file", "", "SPA: keep the replay cache in this file, across restarts")
	fs.DurationVar(&maxAge, "max-age", spa.DefaultMaxAge, "SPA: the largest difference allowed between a packet's timestamp and the clock")
	fs.StringVar(&nftSet, "nft-set", "", "also add each address let in to this nftables set (FAMILY/TABLE/SET, with flags timeout)")
	return cmd
}

func runKnockd(ctx context.Context, cmd *cobra.Command, path, iface string, set *nftset.Set) error {
	cfg, err := knock.LoadConfig(path)
	if err != nil {
		return configError(err)
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
	log := journalLineLogger(logs...)
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
	hup := make(chan os.Signal, 1)
	ossignal.Notify(hup, syscall.SIGHUP)
	defer ossignal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				svc.reloading("SIGHUP")
				c, err := knock.LoadConfig(path)
				if err != nil {
					log.Error(fmt.Sprintf("reload: %v: keeping the old configuration", err))
					svc.knockdReloaded(0, err)
					continue
				}
				srv.Reload(c)
				svc.knockdReloaded(len(c.Doors), nil)
			}
		}
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

// configError makes a syntax error in a configuration file a usage
// error (exit 2, one line).
func configError(err error) error {
	var se *knock.SyntaxError
	if errors.As(err, &se) {
		return usagef("%v", err)
	}
	return err
}

func runSPAServer(ctx context.Context, cmd *cobra.Command, path, iface string, listen []string, digestFile string, maxAge time.Duration, set *nftset.Set) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	access, err := spa.ParseAccessFile(f, path)
	f.Close()
	if err != nil {
		return usagef("%v", err)
	}
	if maxAge <= 0 {
		return usagef("--max-age must be positive, not %v", maxAge)
	}
	addrs := []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), spa.DefaultPort), netip.AddrPortFrom(netip.IPv6Unspecified(), spa.DefaultPort)}
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
	replay, err := spa.OpenReplayCache(digestFile, 0)
	if err != nil {
		return err
	}
	defer replay.Close()
	log := journalLineLogger(cmd.ErrOrStderr())
	svc, err := startService(ctx, log)
	if err != nil {
		return err
	}
	scfg := spa.ServerConfig{Access: access, Replay: replay, MaxAge: maxAge, Logger: log}
	if set != nil {
		scfg.OnGrant = func(g spa.Grant) {
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
	if iface != "" {
		svc.readyText("sniffing SPA on " + iface) // Sniff has no hook: ready as it starts
		err := srv.Sniff(ctx, iface, spa.DefaultPort)
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
