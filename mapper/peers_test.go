package mapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// freePort returns a loopback port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	l, ap := porttest.ListenTCP(t)
	l.Close()
	return int(ap.Port())
}

// freeUDPPort returns a loopback port free for UDP and TCP a moment ago
// (dnsmasq binds both).
func freeUDPPort(t *testing.T) int {
	for {
		c, ap := porttest.ListenUDP(t)
		l, err := net.Listen("tcp4", ap.String())
		c.Close()
		if err == nil {
			l.Close()
			return int(ap.Port())
		}
	}
}

// waitListening waits until something accepts on a loopback TCP port.
func waitListening(t *testing.T, port int) {
	t.Helper()
	for try := 0; ; try++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if try == 100 {
			t.Fatalf("nothing listens on port %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "iperf", Type: mapper.TCP, Listen: "127.0.0.1:0",
		To: []string{fmt.Sprintf("127.0.0.1:%d", port)}}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("iperf")[0]
	const size = 64 << 20
	waitListening(t, port)
	out, err := exec.Command(iperf, "-c", "127.0.0.1", "-p", strconv.Itoa(int(mp.Port())), "-n", strconv.Itoa(size), "-J").Output()
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
		t.Fatalf("iperf3 sent %d bytes, received %d (error %q); want %d sent", res.End.SumSent.Bytes, res.End.SumReceived.Bytes, res.Error, size)
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
	if err := s.Apply([]mapper.Rule{{Name: "dns", Type: mapper.UDP, Listen: "127.0.0.1:0",
		To: []string{fmt.Sprintf("127.0.0.1:%d", port)}, UDPIdleTimeout: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("dns")[0]
	var out []byte
	var err error
	for try := 0; try < 20; try++ {
		out, err = exec.Command(dig, "@127.0.0.1", "-p", strconv.Itoa(int(mp.Port())), "test.example", "A", "+short", "+tries=1", "+time=1").Output()
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
