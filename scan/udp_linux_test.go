package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	sprobe "github.com/portkit/ports/scan/probe"
)

// udpTestPorts are the well-known ports of the namespace tests: DNS
// (dnsmasq), NTP and mDNS (Go responders) open, NetBIOS, SNMP and IKE
// closed; with 20000-20999, where echo services listen on random ports.
var udpTestPorts = []ports.Port{53, 123, 137, 161, 500, 5353}

func udpTestSet() ports.Set {
	s := udpRange(20000, 20999)
	for _, p := range udpTestPorts {
		s.Add(ports.ProtoUDP, ports.Range{First: p, Last: p})
	}
	return s
}

// udpPairSetup starts the UDP services in p.B and returns the open ports
// and, for those with a protocol, a check of the service hint.
func udpPairSetup(t *testing.T, p *porttest.Pair) (map[netip.AddrPort]bool, map[netip.AddrPort]func(sprobe.Service) bool) {
	t.Helper()
	open := map[netip.AddrPort]bool{}
	hints := map[netip.AddrPort]func(sprobe.Service) bool{}
	for _, addr := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		for ap := range listenUDPEcho(t, p.B.ListenPacket, addr, 15, 20000, 20999) {
			open[netip.AddrPortFrom(addr, uint16(ap))] = true
		}
		ntp := netip.AddrPortFrom(addr, 123)
		pc, err := p.B.ListenPacket("udp", ntp.String())
		if err != nil {
			t.Fatal(err)
		}
		serveUDP(t, pc, ntpReply)
		open[ntp] = true
		hints[ntp] = func(s sprobe.Service) bool { return s == sprobe.Service{Name: "ntp", Version: "v4", Info: "stratum 2"} }
		mdns := netip.AddrPortFrom(addr, 5353)
		if pc, err = p.B.ListenPacket("udp", mdns.String()); err != nil {
			t.Fatal(err)
		}
		serveUDP(t, pc, mdnsReply)
		open[mdns] = true
		hints[mdns] = func(s sprobe.Service) bool { return s == sprobe.Service{Name: "mdns", Info: "_ports-test._udp.local"} }
		dns := netip.AddrPortFrom(addr, 53)
		open[dns] = true
		hints[dns] = func(s sprobe.Service) bool { return s.Name == "domain" && s.Product == "dnsmasq" && s.Version != "" }
	}
	startDnsmasq(t, p, 53)
	return open, hints
}

// ntpReply answers an NTP client request as a stratum 2 server (RFC 5905).
func ntpReply(req []byte) []byte {
	if len(req) < 48 || req[0]&7 != 3 {
		return nil
	}
	r := make([]byte, 48)
	r[0], r[1] = 4<<3|4, 2
	copy(r[24:32], req[40:48])
	return r
}

// mdnsReply answers a PTR question with one service.
func mdnsReply(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil || q.Type != dnsmessage.TypePTR {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
		dnsmessage.PTRResource{PTR: dnsmessage.MustNewName("_ports-test._udp.local.")})
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// startDnsmasq runs the real dnsmasq in p.B on port of both addresses
// and waits until it answers.
func startDnsmasq(t *testing.T, p *porttest.Pair, port int) {
	t.Helper()
	path, err := exec.LookPath("dnsmasq")
	if err != nil {
		for _, d := range []string{"/usr/sbin/dnsmasq", "/sbin/dnsmasq"} {
			if _, err2 := exec.LookPath(d); err2 == nil {
				path, err = d, nil
			}
		}
	}
	if err != nil {
		t.Skipf("needs dnsmasq (apt-get install dnsmasq): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.B.Command(ctx, path, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file=", "--user=root", fmt.Sprintf("--port=%d", port), "--bind-interfaces",
		"--listen-address="+p.B.Addr4.String(), "--listen-address="+p.B.Addr6.String())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	q := sprobe.ForUDPPort(53)
	for _, addr := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := p.A.Dial(t.Context(), "udp", netip.AddrPortFrom(addr, uint16(port)).String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write(q.Payload())
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			c.Close()
			if err == nil {
				if _, ok := q.Match(buf[:n]); ok {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("dnsmasq does not answer on %v: %v\n%s", addr, err, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// setICMPRateLimit sets the ICMP rate limits of h's namespace: 0 turns
// them off; -1 restores nothing (the defaults stay).
func setICMPRateLimit(t *testing.T, h *porttest.Host, ms int) {
	t.Helper()
	for _, kv := range []string{fmt.Sprintf("net.ipv4.icmp_ratelimit=%d", ms), fmt.Sprintf("net.ipv6.icmp.ratelimit=%d", ms),
		"net.ipv4.icmp_msgs_per_sec=100000", "net.ipv4.icmp_msgs_burst=100000"} {
		if out, err := h.Command(t.Context(), "sysctl", "-qw", kv).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s: %v %s", kv, err, out)
		}
	}
}

func udpPairConfig(p *porttest.Pair) *UDPConfig {
	return &UDPConfig{Options: Options{Ports: udpTestSet(), OpenIn: p.A.Do}}
}

// TestIntegrationUDPNetNS scans 1,006 ports of each address of a
// namespace host with the ICMP rate limit off: every open port (echo
// services, dnsmasq, NTP and mDNS responders) must be found open with its
// service, and every other port closed.
func TestIntegrationUDPNetNS(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, nil)
	setICMPRateLimit(t, p.B, 0)
	open, hints := udpPairSetup(t, p)
	targets := []netip.Addr{p.B.Addr4, p.B.Addr6}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	got := collect(t, UDPScan(ctx, targets, udpPairConfig(p)))
	wantStates := map[netip.AddrPort]string{}
	for _, a := range targets {
		for port := range udpTestSet().Ports(ports.ProtoUDP) {
			ap := netip.AddrPortFrom(a, uint16(port))
			wantStates[ap] = "closed/port-unreach"
			if open[ap] {
				wantStates[ap] = "open/udp-response"
			}
		}
	}
	if diff := cmp.Diff(wantStates, states(got)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	for ap, ok := range hints {
		if s := got[ap].Service; !ok(s) {
			t.Errorf("%v: service %+v", ap, s)
		} else {
			t.Logf("%v: %s", ap, s)
		}
	}
}

// TestIntegrationUDPLoss scans the same host through 5% loss each way,
// with the ICMP rate limit at the kernel's defaults, several times: the
// open ports must be found (at least 99.9% of them over all runs), and no
// other port may be reported open.
func TestIntegrationUDPLoss(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, &porttest.PairConfig{Loss: 0.05})
	open, _ := udpPairSetup(t, p)
	targets := []netip.Addr{p.B.Addr4, p.B.Addr6}
	cfg := udpPairConfig(p)
	cfg.RateLimitWait = 3 * time.Second
	found, total := 0, 0
	for run := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		got := collect(t, UDPScan(ctx, targets, cfg))
		cancel()
		if len(got) != 2*udpTestSet().Len(ports.ProtoUDP) {
			t.Errorf("run %d: %d results, want %d", run, len(got), 2*udpTestSet().Len(ports.ProtoUDP))
		}
		byState := map[string]int{}
		for ap, r := range got {
			byState[r.State.String()]++
			if r.State == StateOpen && !open[ap] {
				t.Errorf("run %d: %v: %+v, but nothing listens there", run, ap, r)
			}
			if open[ap] && r.State != StateOpen && r.State != StateOpenFiltered {
				t.Errorf("run %d: %v: %+v, but a service listens there", run, ap, r)
			}
		}
		for ap := range open {
			total++
			if got[ap].State == StateOpen {
				found++
			} else {
				t.Logf("run %d: missed %v: %+v", run, ap, got[ap])
			}
		}
		t.Logf("run %d: %v", run, byState)
	}
	t.Logf("recall %d/%d", found, total)
	if 1000*found < 999*total {
		t.Errorf("recall %d/%d, want at least 99.9%%", found, total)
	}
}

// TestIntegrationUDPRateLimit scans a host whose kernel rate-limits its
// ICMP errors (the defaults: about one a second per peer for IPv4 after a
// burst of six): a closed port must never be reported open, and those not
// found closed within the time budget are open|filtered; pacing must
// find more closed ports than the first burst alone.
func TestIntegrationUDPRateLimit(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, nil)
	setICMPRateLimit(t, p.B, 1000)
	open := map[netip.AddrPort]bool{}
	var set ports.Set
	set.Add(ports.ProtoUDP, ports.Range{First: 30000, Last: 30059})
	for ap := range listenUDPEcho(t, p.B.ListenPacket, p.B.Addr4, 5, 30000, 30059) {
		open[netip.AddrPortFrom(p.B.Addr4, uint16(ap))] = true
	}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	var logs msgCounter
	cfg := &UDPConfig{Options: Options{Ports: set, OpenIn: p.A.Do, Logger: slog.New(&logs)}, RateLimitWait: 15 * time.Second}
	got := collect(t, UDPScan(ctx, []netip.Addr{p.B.Addr4}, cfg))
	byState := map[string]int{}
	for ap, r := range got {
		byState[r.State.String()+"/"+r.Reason]++
		switch {
		case open[ap] && r.State != StateOpen:
			t.Errorf("%v: %+v, want open", ap, r)
		case !open[ap] && r.State != StateClosed && r.State != StateOpenFiltered:
			t.Errorf("%v: %+v, want closed or open|filtered", ap, r)
		}
	}
	t.Logf("%v; %d pacing messages", byState, logs.n.Load())
	if len(got) != 60 {
		t.Errorf("%d results, want 60", len(got))
	}
	// The first burst gets 6 port unreachables, the retries a few more;
	// 15 seconds paced at about one a second must add several.
	if byState["closed/port-unreach"] < 12 {
		t.Errorf("%d closed ports found, want at least 12 with pacing", byState["closed/port-unreach"])
	}
}

// TestIntegrationUDPFiltered: a host that drops everything gives
// open|filtered ports, after every retry, in bounded time.
func TestIntegrationUDPFiltered(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, nil)
	p.SetLoss(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	cfg := &UDPConfig{Options: Options{Ports: udpRange(1, 100), OpenIn: p.A.Do}}
	got := collect(t, UDPScan(ctx, []netip.Addr{p.B.Addr4, p.B.Addr6}, cfg))
	if len(got) != 200 {
		t.Errorf("%d results, want 200", len(got))
	}
	for ap, r := range got {
		if r.State != StateOpenFiltered || r.Reason != ReasonNoResponse || r.Tries != 1+defaultUDPRetries {
			t.Errorf("%v: %+v, want open|filtered, no-response after %d tries", ap, r, 1+defaultUDPRetries)
		}
	}
}

// TestIntegrationUDPUnreachable: a target on the link that does not exist
// gives filtered ports, host-unreach (the kernel's own ICMP error after
// neighbour discovery fails), never closed or open.
func TestIntegrationUDPUnreachable(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, nil)
	ghost6 := p.B.Addr6.Next().Next() // on the link, but nobody has it
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	cfg := &UDPConfig{Options: Options{Ports: udpRange(40000, 40004), OpenIn: p.A.Do}}
	got := map[netip.AddrPort]Result{}
	for r, err := range UDPScan(ctx, []netip.Addr{ghost6}, cfg) {
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		got[r.AddrPort()] = r
	}
	if len(got) != 5 {
		t.Errorf("%d results, want 5", len(got))
	}
	for ap, r := range got {
		if r.State != StateFiltered && r.State != StateOpenFiltered {
			t.Errorf("%v: %+v, want filtered", ap, r)
		}
		t.Logf("%v: %v %s", ap, r.State, r.Reason)
	}
}

// msgCounter counts log messages.
type msgCounter struct{ n atomic.Int64 }

func (h *msgCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *msgCounter) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *msgCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *msgCounter) WithGroup(string) slog.Handler      { return h }

// TestIntegrationUDPIdentify: dnsmasq on a random port is silent to the
// scan's empty datagram (open|filtered); IdentifyUDP's probes find it.
func TestIntegrationUDPIdentify(t *testing.T) {
	udpSupported(t)
	p := porttest.NewPair(t, nil)
	port := 20000 + rand.IntN(10000)
	startDnsmasq(t, p, port)
	for _, addr := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		ap := netip.AddrPortFrom(addr, uint16(port))
		var set ports.Set
		set.Add(ports.ProtoUDP, ports.Range{First: ports.Port(port), Last: ports.Port(port)})
		got := collect(t, UDPScan(t.Context(), []netip.Addr{addr}, &UDPConfig{Options: Options{Ports: set, OpenIn: p.A.Do, Timeout: 200 * time.Millisecond}}))
		if r := got[ap]; r.State != StateOpenFiltered {
			t.Errorf("%v: %+v, want open|filtered (dnsmasq ignores an empty datagram)", ap, r)
		}
		s, answered, err := identifyUDP(t.Context(), ap, time.Second, p.A.Dial)
		if err != nil || !answered || s.Name != "domain" || s.Product != "dnsmasq" {
			t.Errorf("%v: identifyUDP = %+v, %v, %v; want dnsmasq", ap, s, answered, err)
		}
		closed := netip.AddrPortFrom(addr, uint16(port+1))
		if s, answered, err := identifyUDP(t.Context(), closed, time.Second, p.A.Dial); !errors.Is(err, syscall.ECONNREFUSED) || answered {
			t.Errorf("%v: identifyUDP = %+v, %v, %v; want ECONNREFUSED", closed, s, answered, err)
		}
	}
}
