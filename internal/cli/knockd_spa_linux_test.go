package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// runIn runs the ports command line args in h until stop, which waits
// for it and fails the test unless it exited 0.
func runIn(t *testing.T, h *porttest.Host, args ...string) (stderr *lockedBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = new(lockedBuffer)
	done := make(chan int, 1)
	go func() {
		var stdout lockedBuffer
		h.Do(func() error {
			done <- Run(ctx, args, &stdout, stderr)
			return nil
		})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("ports %s exited %d: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
	t.Cleanup(stop)
	return stderr, stop
}

func waitLog(t *testing.T, what string, log *lockedBuffer, cond func(string) bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if cond(log.String()) {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; knockd said:\n%s", what, log.String())
}

// TestIntegrationKnockdSPAReplayAfterRestart: `ports knockd --spa`
// keeps its digest cache in the state directory by default, so a packet
// of the real fwknop client that it accepted is refused when replayed
// after a restart.
func TestIntegrationKnockdSPAReplayAfterRestart(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	state := filepath.Join(t.TempDir(), "state")
	t.Setenv("STATE_DIRECTORY", state)
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	args := []string{"knockd", "--spa", "-c", access, "--listen", listen.String()}

	logs, stop := runIn(t, p.B, args...)
	waitLog(t, "knockd to listen", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	pktFile := filepath.Join(dir, "fwknop.pkt")
	cmd := p.A.Command(context.Background(), fwknop, "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC),
		"--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"), "--save-packet", pktFile)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	waitLog(t, "fwknop's packet accepted", logs, func(s string) bool { return strings.Contains(s, "SPA packet accepted") })
	stop()

	saved, err := os.ReadFile(pktFile)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ = runIn(t, p.B, args...)
	waitLog(t, "knockd to listen again", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	want := "replay cache in " + filepath.Join(state, "knockd-spa.digest") + " (1 packets remembered)"
	if !strings.Contains(logs.String(), want) {
		t.Errorf("after the restart, no line %q:\n%s", want, logs)
	}
	if err := p.A.Do(func() error { return spa.Send(t.Context(), listen, strings.TrimSpace(string(saved))) }); err != nil {
		t.Fatal(err)
	}
	waitLog(t, "the replay refused", logs, func(s string) bool {
		return strings.Contains(s, p.A.Addr4.String()+": SPA packet rejected: spa: replayed packet")
	})
	if strings.Contains(logs.String(), "SPA packet accepted") {
		t.Errorf("the replay was accepted after a restart:\n%s", logs)
	}
}

// TestIntegrationKnockdSPATCP: `ports knockd --spa --tcp-listen` takes
// the real fwknop client's packet over TCP (-P tcp).
func TestIntegrationKnockdSPATCP(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String(), "--tcp-listen", listen.String())
	waitLog(t, "knockd to listen on tcp", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets on tcp") })
	cmd := p.A.Command(context.Background(), fwknop, "-P", "tcp", "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	waitLog(t, "the packet over TCP accepted", logs, func(s string) bool { return strings.Contains(s, "SPA packet accepted") })
}

// TestIntegrationKnockdSPASniffPortICMP: `ports knockd --spa -i IFACE
// --spa-port 4444 --icmp` takes the real fwknop client's packets sent to
// UDP 4444 and in ICMP (-P icmp), with one line each.
func TestIntegrationKnockdSPASniffPortICMP(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "-i", p.B.Link, "--spa-port", "4444", "--icmp")
	waitLog(t, "knockd to sniff", logs, func(s string) bool { return strings.Contains(s, "filter: udp dst port 4444 or icmp") })
	for i, extra := range [][]string{{"-p", "4444"}, {"-P", "icmp"}} {
		allow := fmt.Sprintf("127.0.7.%d", i+1)
		cmd := p.A.Command(context.Background(), fwknop, append([]string{"-A", "tcp/22", "-a", allow, "-D", p.B.Addr4.String(),
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc")}, extra...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop %v: %v: %s", extra, err, out)
		}
		waitLog(t, "fwknop "+strings.Join(extra, " ")+" accepted", logs, func(s string) bool { return strings.Contains(s, "open to "+allow) })
	}
}

// TestIntegrationSPAServerCmd: `ports knock --spa --server-cmd` makes a
// command message that the real fwknopd runs (ENABLE_CMD_EXEC), and
// `ports knockd --spa` runs the real fwknop client's -C, for the same
// access.conf.
func TestIntegrationSPAServerCmd(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nENABLE_CMD_EXEC Y\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	fconf := filepath.Join(dir, "fwknopd.conf")
	os.WriteFile(fconf, []byte(fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nFWKNOP_RUN_DIR %s;\n", p.B.Link, run)), 0o600)
	flog := p.B.Start(t, fwknopd, "-f", "-U", "-c", fconf, "-a", access, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "pid"))
	porttest.WaitFor(t, "fwknopd to listen", func() bool { return strings.Contains(flog.String(), "Kicking off UDP server") })

	made := filepath.Join(dir, "by-fwknopd")
	var kerr lockedBuffer
	var code int
	p.A.Do(func() error {
		code = Run(t.Context(), []string{"knock", "--spa", "-C", "/usr/bin/touch " + made, "-a", p.A.Addr4.String(),
			"--key-base64", b64(keys.Enc), "--hmac-key-base64", b64(keys.HMAC), p.B.Addr4.String()}, io.Discard, &kerr)
		return nil
	})
	if code != 0 {
		t.Fatalf("ports knock --spa -C: exit %d: %s", code, kerr.String())
	}
	porttest.WaitFor(t, "fwknopd to run our command", func() bool { return porttest.Exists(made) })

	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort+1)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String())
	waitLog(t, "knockd to listen", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	made = filepath.Join(dir, "by-ports")
	cmd := p.A.Command(context.Background(), fwknop, "-C", "/usr/bin/touch "+made, "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(), "-p", strconv.Itoa(int(listen.Port())),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	porttest.WaitFor(t, "ports knockd to run fwknop's command", func() bool { return porttest.Exists(made) })
	waitLog(t, "the command's exit", logs, func(s string) bool { return strings.Contains(s, "server command /usr/bin/touch: exited 0") })
}

// TestIntegrationSPANAT: NAT access, both ways against the real
// fwknopd (ENABLE_IPT_FORWARDING, its iptables rules in namespace B) and
// `ports knockd --spa --nat-map` (an nftables DNAT map in B): a packet of
// `ports knock --spa -N` to fwknopd, and of the fwknop client's -N to
// ours, each forward A's connections to a port of B on to a service of
// C behind B; a stanza with FORCE_NAT forwards a plain access request,
// for either. Before the packets, the ports are closed.
func TestIntegrationSPANAT(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	nft := porttest.LookTool(t, "nft", "nftables")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	bh := p.AddBehind(t)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	svc := netip.AddrPortFrom(bh.C.Addr4, 2222)
	ln, err := bh.C.Listen("tcp4", svc.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "C here\n")
			c.Close()
		}
	}()
	// reaches reports whether A's connection to B's port is answered by C.
	reaches := func(port uint16) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := p.A.Dial(ctx, "tcp4", netip.AddrPortFrom(p.B.Addr4, port).String())
		if err != nil {
			return false
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		return string(b) == "C here\n"
	}

	access := filepath.Join(dir, "access.conf")
	k := fmt.Sprintf("KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(keys.Enc), b64(keys.HMAC))
	os.WriteFile(access, []byte("SOURCE ANY\nREQUIRE_USERNAME forced\nOPEN_PORTS tcp/2203,tcp/2204\nFORCE_NAT "+bh.C.Addr4.String()+" 2222\n"+k+
		"\nSOURCE ANY\nOPEN_PORTS tcp/2201,tcp/2202,tcp/2205\n"+k), 0o600)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	fconf := filepath.Join(dir, "fwknopd.conf")
	os.WriteFile(fconf, []byte(fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nENABLE_IPT_FORWARDING Y;\nFWKNOP_RUN_DIR %s;\n", p.B.Link, run)), 0o600)
	flog := p.B.Start(t, fwknopd, "-f", "-U", "-c", fconf, "-a", access, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "pid"))
	porttest.WaitFor(t, "fwknopd to listen", func() bool { return strings.Contains(flog.String(), "Kicking off UDP server") })
	defer func() {
		if t.Failed() {
			t.Logf("fwknopd said:\n%s", flog)
		}
	}()

	for _, args := range [][]string{
		{"add", "table", "ip", "spatest"},
		{"add", "map", "ip", "spatest", "nat", "{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }"},
		{"add", "chain", "ip", "spatest", "pre", "{ type nat hook prerouting priority dstnat; }"},
		{"add", "rule", "ip", "spatest", "pre", "dnat", "ip", "to", "ip", "saddr", ".", "meta", "l4proto", ".", "th", "dport", "map", "@nat"},
	} {
		if out, err := p.B.Command(context.Background(), nft, args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort+1)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String(), "--nat-map", "ip/spatest/nat")
	waitLog(t, "knockd to listen", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })

	for _, port := range []uint16{2201, 2202, 2203, 2204, 2205} {
		if reaches(port) {
			t.Fatalf("before any packet, B:%d reaches C", port)
		}
	}
	knock := func(args ...string) {
		t.Helper()
		var kerr lockedBuffer
		var code int
		p.A.Do(func() error {
			code = Run(t.Context(), append(append([]string{"knock", "--spa", "-a", p.A.Addr4.String(),
				"--key-base64", b64(keys.Enc), "--hmac-key-base64", b64(keys.HMAC)}, args...), p.B.Addr4.String()), io.Discard, &kerr)
			return nil
		})
		if code != 0 {
			t.Fatalf("ports knock --spa %q: exit %d: %s", args, code, kerr.String())
		}
	}
	client := func(args ...string) {
		t.Helper()
		cmd := p.A.Command(context.Background(), fwknop, append([]string{"-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(), "-p", strconv.Itoa(int(listen.Port())),
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc")}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop: %v: %s", err, out)
		}
	}
	knock("-N", svc.String(), "-A", "tcp/2201")
	porttest.WaitFor(t, "fwknopd to forward B:2201 to C (ports knock -N)", func() bool { return reaches(2201) })
	client("-N", svc.String(), "-A", "tcp/2202")
	porttest.WaitFor(t, "ours to forward B:2202 to C (fwknop -N)", func() bool { return reaches(2202) })
	knock("--user", "forced", "-A", "tcp/2204")
	porttest.WaitFor(t, "fwknopd to forward B:2204 to C (FORCE_NAT)", func() bool { return reaches(2204) })
	client("--spoof-user", "forced", "-A", "tcp/2203")
	porttest.WaitFor(t, "ours to forward B:2203 to C (FORCE_NAT)", func() bool { return reaches(2203) })
	rc := filepath.Join(dir, "ports-rc")
	os.WriteFile(rc, []byte("[nat]\nNAT_ACCESS "+svc.String()+"\n"), 0o600)
	knock("--rc-file", rc, "-n", "nat", "-A", "tcp/2205")
	porttest.WaitFor(t, "fwknopd to forward B:2205 to C (fwknoprc NAT_ACCESS)", func() bool { return reaches(2205) })
	waitLog(t, "our NAT log line", logs, func(s string) bool {
		return strings.Contains(s, "tcp/2202 from "+p.A.Addr4.String()+" forwarded to "+svc.String())
	})
}

// TestIntegrationSPALocalNAT: local NAT (fwknop --nat-local), both ways
// against the real fwknopd (ENABLE_IPT_FORWARDING and
// ENABLE_IPT_LOCAL_NAT, its iptables rules in namespace B) and `ports
// knockd --spa --nat-map` (an nftables DNAT map in B): a packet of
// `ports knock --spa --nat-local --nat-port` to fwknopd, and of the
// fwknop client's to ours, each send A's connections to the --nat-port
// of B on to a service on another port of B itself; `--no-local-nat`
// refuses it with a log line. Before the packets, the ports reach
// nothing.
func TestIntegrationSPALocalNAT(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	nft := porttest.LookTool(t, "nft", "nftables")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	// B's own services, on 2301 and 2302.
	for _, port := range []uint16{2301, 2302} {
		ln, err := p.B.Listen("tcp4", netip.AddrPortFrom(p.B.Addr4, port).String())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "B:%d here\n", port)
				c.Close()
			}
		}()
	}
	// reaches reports whether A's connection to B's port is answered by
	// B's service on svc.
	reaches := func(port, svc uint16) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := p.A.Dial(ctx, "tcp4", netip.AddrPortFrom(p.B.Addr4, port).String())
		if err != nil {
			return false
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		return string(b) == fmt.Sprintf("B:%d here\n", svc)
	}
	access := filepath.Join(dir, "access.conf")
	// fwknopd checks OPEN_PORTS against the ports of the request, which
	// are the --nat-port ones for local NAT.
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/2311,tcp/2312,tcp/2313\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(keys.Enc), b64(keys.HMAC))), 0o600)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	fconf := filepath.Join(dir, "fwknopd.conf")
	os.WriteFile(fconf, []byte(fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nENABLE_IPT_FORWARDING Y;\nENABLE_IPT_LOCAL_NAT Y;\nFWKNOP_RUN_DIR %s;\n", p.B.Link, run)), 0o600)
	flog := p.B.Start(t, fwknopd, "-f", "-U", "-c", fconf, "-a", access, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "pid"))
	porttest.WaitFor(t, "fwknopd to listen", func() bool { return strings.Contains(flog.String(), "Kicking off UDP server") })
	defer func() {
		if t.Failed() {
			t.Logf("fwknopd said:\n%s", flog)
		}
	}()
	for _, args := range [][]string{
		{"add", "table", "ip", "spatest"},
		{"add", "map", "ip", "spatest", "nat", "{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }"},
		{"add", "chain", "ip", "spatest", "pre", "{ type nat hook prerouting priority dstnat; }"},
		{"add", "rule", "ip", "spatest", "pre", "dnat", "ip", "to", "ip", "saddr", ".", "meta", "l4proto", ".", "th", "dport", "map", "@nat"},
	} {
		if out, err := p.B.Command(context.Background(), nft, args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort+1)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String(), "--nat-map", "ip/spatest/nat", "--digest-file", filepath.Join(dir, "ours.digest"))
	waitLog(t, "knockd to listen", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	refusing := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort+2)
	rlogs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", refusing.String(), "--nat-map", "ip/spatest/nat", "--no-local-nat", "--digest-file", filepath.Join(dir, "refusing.digest"))
	waitLog(t, "knockd --no-local-nat to listen", rlogs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })

	for _, port := range []uint16{2311, 2312, 2313} {
		if reaches(port, 2301) || reaches(port, 2302) {
			t.Fatalf("before any packet, B:%d reaches a service", port)
		}
	}
	client := func(to netip.AddrPort, args ...string) {
		t.Helper()
		cmd := p.A.Command(context.Background(), fwknop, append([]string{"-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(), "-p", strconv.Itoa(int(to.Port())),
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc")}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop: %v: %s", err, out)
		}
	}
	var kerr lockedBuffer
	var code int
	p.A.Do(func() error {
		code = Run(t.Context(), []string{"knock", "--spa", "-a", p.A.Addr4.String(), "--key-base64", b64(keys.Enc), "--hmac-key-base64", b64(keys.HMAC),
			"--nat-local", "--nat-port", "2311", "-A", "tcp/2301", p.B.Addr4.String()}, io.Discard, &kerr)
		return nil
	})
	if code != 0 {
		t.Fatalf("ports knock --spa --nat-local: exit %d: %s", code, kerr.String())
	}
	porttest.WaitFor(t, "fwknopd to send B:2311 to B:2301 (ports knock --nat-local)", func() bool { return reaches(2311, 2301) })
	client(listen, "--nat-local", "--nat-port", "2312", "-A", "tcp/2302")
	porttest.WaitFor(t, "ours to send B:2312 to B:2302 (fwknop --nat-local)", func() bool { return reaches(2312, 2302) })
	waitLog(t, "our local NAT log line", logs, func(s string) bool {
		return strings.Contains(s, "SPA local NAT access accepted") && strings.Contains(s, "tcp/2312 from "+p.A.Addr4.String()+" forwarded to "+p.B.Addr4.String()+":2302")
	})
	client(refusing, "--nat-local", "--nat-port", "2313", "-A", "tcp/2301")
	waitLog(t, "the refusal of --no-local-nat", rlogs, func(s string) bool {
		return strings.Contains(s, "local NAT (fwknop --nat-local) is not enabled here")
	})
	if reaches(2313, 2301) {
		t.Error("knockd --no-local-nat let B:2313 reach B:2301")
	}
}
