package mapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/socktable"
)

// freePort returns a loopback port in 5000-9999 that was free a moment
// ago for the given protocols: outside the ephemeral range, so that no
// socket of the test bound to port 0 can take it before the peer binds
// it, and outside the ranges other packages' tests scan expecting them
// closed (internal/cli below 5000, scan from 10000).
func freePort(t *testing.T, protos ...ports.Proto) int {
	t.Helper()
	return int(porttest.FreePort(t, hostports.FreeConfig{Proto: protos, Addr: netip.MustParseAddr("127.0.0.1"), Range: ports.Range{First: 5000, Last: 9999}}))
}

func freeTCPPort(t *testing.T) int { return freePort(t, ports.ProtoTCP) }

// freeUDPPort: dnsmasq binds UDP and TCP.
func freeUDPPort(t *testing.T) int { return freePort(t, ports.ProtoUDP, ports.ProtoTCP) }

// waitListening waits until a TCP socket listens on the loopback port.
// It looks in the kernel's socket table instead of connecting: iperf3
// takes a probe connection for a client, fails the test it never got,
// and closes its listener, resetting whatever waited in the backlog.
func waitListening(t *testing.T, port int) {
	t.Helper()
	opts := &socktable.Options{Protos: []ports.Proto{ports.ProtoTCP}, States: socktable.StatesOf(socktable.StateListen),
		LocalPorts: []ports.Range{{First: ports.Port(port), Last: ports.Port(port)}}}
	porttest.WaitFor(t, fmt.Sprintf("a listener on port %d", port), func() bool {
		socks, err := socktable.Append(context.Background(), nil, opts)
		if err != nil {
			t.Fatalf("socket table: %v", err)
		}
		return len(socks) > 0
	})
}

func need(t *testing.T, tool string) string {
	p, err := exec.LookPath(tool)
	if err != nil {
		if p, err = exec.LookPath("/usr/sbin/" + tool); err != nil {
			t.Skipf("needs %s (Debian package; .ci/run installs it)", tool)
		}
	}
	return p
}

// TestIperf3ThroughTCPMapping runs a real iperf3 client and server through
// a mapping and checks that the bytes iperf3 reports are the bytes the
// mapping counted and logged.
func TestIperf3ThroughTCPMapping(t *testing.T) {
	iperf := need(t, "iperf3")
	port := freeTCPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	srvCmd := exec.CommandContext(ctx, iperf, "-s", "-B", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := srvCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); srvCmd.Wait() }()

	waitListening(t, port) // before the mapping listens, which could not answer for it then
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "iperf", Type: mapper.TCP, Listen: testListen,
		To: []string{fmt.Sprintf("127.0.0.1:%d", port)}}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("iperf")[0]
	const size = 64 << 20
	out, err := exec.Command(iperf, "-c", mp.Addr().String(), "-p", strconv.Itoa(int(mp.Port())), "-n", strconv.Itoa(size), "-J").Output()
	if err != nil {
		t.Fatalf("iperf3 client: %v\n%s", err, out)
	}
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Bytes int64 `json:"bytes"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes int64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("iperf3 -J: %v", err)
	}
	if res.End.SumSent.Bytes < size || res.End.SumReceived.Bytes == 0 {
		t.Fatalf("iperf3 sent %d bytes, received %d (error %q); want %d sent\nmapping:\n%s", res.End.SumSent.Bytes, res.End.SumReceived.Bytes, res.Error, size, logs)
	}
	// The control connection and the data connection went through us.
	sts := rec.waitClosed(t, 2)
	var up int64
	for _, st := range sts {
		up += st.Up
	}
	if up < res.End.SumReceived.Bytes {
		t.Errorf("mapping counted %d bytes up, iperf3 received %d", up, res.End.SumReceived.Bytes)
	}
	rec.mu.Lock()
	metered := rec.up
	rec.mu.Unlock()
	if metered != up {
		t.Errorf("Transferred reported %d bytes up, connection stats %d", metered, up)
	}
	if !strings.Contains(logs.String(), "rule=iperf") || !strings.Contains(logs.String(), fmt.Sprintf("up=%d", sts[len(sts)-1].Up)) {
		t.Errorf("conn end lines missing:\n%s", logs)
	}
}

// TestDigThroughUDPMapping asks a real dnsmasq through a UDP mapping with
// dig.
func TestDigThroughUDPMapping(t *testing.T) {
	dnsmasq := need(t, "dnsmasq")
	dig := need(t, "dig")
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := exec.CommandContext(ctx, dnsmasq, "--no-daemon", "--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
		"--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--address=/test.example/192.0.2.1")
	dlog := &syncBuf{}
	d.Stdout, d.Stderr = dlog, dlog
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); d.Wait() }()

	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "dns", Type: mapper.UDP, Listen: testListen,
		To: []string{fmt.Sprintf("127.0.0.1:%d", port)}, UDPIdleTimeout: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("dns")[0]
	var out []byte
	var err error
	for try := 0; try < 20; try++ {
		out, err = exec.Command(dig, "@"+mp.Addr().String(), "-p", strconv.Itoa(int(mp.Port())), "test.example", "A", "+short", "+tries=1", "+time=1").Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := strings.TrimSpace(string(out)); got != "192.0.2.1" {
		t.Fatalf("dig through the mapping = %q, %v; want 192.0.2.1\ndnsmasq: %s\nmapping: %s", got, err, dlog, logs)
	}
	// The sessions idle out and are logged with their bytes.
	// (Tries made before dnsmasq listened are sessions without replies.)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		sts := append([]mapper.Stats(nil), rec.closed...)
		rec.mu.Unlock()
		if slices.ContainsFunc(sts, func(st mapper.Stats) bool { return st.Up > 0 && st.Down > 0 && st.Reason == mapper.ReasonIdle }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session stats %+v, want one with bytes both ways ended by idle timeout", sts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "proto=udp") {
		t.Errorf("no udp session line:\n%s", logs)
	}
}

// TestKeepAliveOnlyWithoutIdleTimeout asks ss for the timers of the
// mapping's two sockets of a connection: no keepalive timer while the
// rule has an idle timeout (it ends dead connections), one on both when
// the rule has none.
func TestKeepAliveOnlyWithoutIdleTimeout(t *testing.T) {
	ss := need(t, "ss")
	for _, tc := range []struct {
		name string
		idle time.Duration
		want bool
	}{{"idle-timeout", 0, false}, {"no-idle-timeout", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, up := newEchoServer(t, mapper.Rule{Name: tc.name, Type: mapper.TCP, IdleTimeout: tc.idle})
			mp := s.Addrs(tc.name)[0]
			c, err := net.Dial("tcp", mp.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			// The mapping's accepted socket has the listener's port; its
			// upstream socket has the echo server's port as peer.
			for _, filter := range [][]string{{"src", mp.String()}, {"dst", up}} {
				out, err := exec.Command(ss, append([]string{"-Htno", "state", "established"}, filter...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("ss: %v: %s", err, out)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if len(lines) != 1 || lines[0] == "" {
					t.Fatalf("ss %s: want one socket, got:\n%s", filter, out)
				}
				if got := strings.Contains(lines[0], "timer:(keepalive"); got != tc.want {
					t.Errorf("ss %s: keepalive timer %v, want %v:\n%s", filter, got, tc.want, out)
				}
			}
		})
	}
}
