package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationScanShards: three shard processes (--seed S --shard
// I/3) run side by side over a /27 whose live hosts (addresses of B,
// with random open ports) are among absent addresses. tcpdump on B's
// side sees every (host, port) pair of the live hosts probed by exactly
// one SYN (--max-retries 0: a second SYN could only come from a second
// shard), every shard finds the same hosts up, and the shards' -oJ port
// lines (--all-states) merged equal an unsharded scan's.
func TestIntegrationScanShards(t *testing.T) {
	tcpdump := porttest.LookTool(t, "tcpdump", "tcpdump")
	p := porttest.NewPair(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const shards, lastPort = 3, 200
	self := netip.MustParseAddr("10.79.0.1")
	live := []netip.Addr{netip.MustParseAddr("10.79.0.5"), netip.MustParseAddr("10.79.0.17"), netip.MustParseAddr("10.79.0.30")}
	p.AddAddrs(t, netip.MustParsePrefix("10.79.0.0/27"), self, live...)
	open := map[string]bool{}
	for _, a := range live {
		for n := 0; n < 2; {
			ap := netip.AddrPortFrom(a, uint16(1+rand.IntN(lastPort)))
			if open[ap.String()] {
				continue
			}
			l, err := p.B.Listen("tcp", ap.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			open[ap.String()] = true
			n++
		}
	}
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	dir := t.TempDir()
	seed := strconv.Itoa(1 + rand.IntN(1<<30))
	scanArgs := func(oJ string, more ...string) []string {
		return append([]string{"scan", "-sS", "-p", "1-" + strconv.Itoa(lastPort), "--seed", seed, "--max-retries", "0",
			"--timeout", "3s", "--all-states", "-oJ", oJ, "--exclude", self.String(), "10.79.0.0/27"}, more...)
	}

	pcap := filepath.Join(dir, "syn.pcap")
	// A small snapshot and a large buffer: in immediate mode the ring's
	// slots are snapshot-sized, and at 262,144 bytes it held a few SYNs
	// of the burst (a third were dropped).
	capture := p.B.Command(ctx, tcpdump, "-i", p.B.Link, "-U", "--immediate-mode", "-s", "128", "-B", "8192", "-n", "-w", pcap,
		"src host "+self.String()+" and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn")
	capLog := &porttest.LogBuffer{}
	capture.Stdout, capture.Stderr = capLog, capLog
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	defer capture.Wait()
	defer capture.Process.Kill()
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })

	var cmds []*exec.Cmd
	var errs []*bytes.Buffer
	for i := 1; i <= shards; i++ {
		cmd := childCommand(t, inA, scanArgs(filepath.Join(dir, fmt.Sprintf("shard%d.json", i)), "--shard", fmt.Sprintf("%d/%d", i, shards))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, errs = append(cmds, cmd), append(errs, &stderr)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d/%d: %v: %s", i+1, shards, err, errs[i])
		}
	}
	// The shards are done, their SYNs sent: wait for the capture to hold
	// one a pair, then stop it and count them all.
	pairs := len(live) * lastPort
	syns := func() map[string]int {
		out, _ := exec.Command(tcpdump, "-nn", "-r", pcap).Output() // the last packet may be half written
		got := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			// "... IP 10.79.0.1.40000 > 10.79.0.5.22: Flags [S], ..."
			f := strings.Fields(l)
			if i := slices.Index(f, ">"); i > 0 && i+1 < len(f) {
				got[strings.TrimSuffix(f[i+1], ":")]++
			}
		}
		return got
	}
	porttest.WaitFor(t, "the capture to hold a SYN for every pair", func() bool { return len(syns()) >= pairs })
	capture.Process.Signal(syscall.SIGINT)
	capture.Wait()
	if strings.Contains(capLog.String(), "dropped by kernel") && !strings.Contains(capLog.String(), "\n0 packets dropped by kernel") {
		t.Errorf("tcpdump dropped packets: the counts below miss some:\n%s", capLog.String())
	}
	got := syns()
	for _, a := range live {
		for port := 1; port <= lastPort; port++ {
			k := a.String() + "." + strconv.Itoa(port)
			if n := got[k]; n != 1 {
				t.Errorf("%s port %d: %d SYNs from the shards, want 1", a, port, n)
			}
			delete(got, k)
		}
	}
	for k, n := range got {
		t.Errorf("%d SYNs to %s, which is not a pair of a live host", n, k)
	}

	whole := filepath.Join(dir, "whole.json")
	var stderr bytes.Buffer
	cmd := childCommand(t, inA, scanArgs(whole)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("unsharded scan: %v: %s", err, stderr.String())
	}
	wantPorts, wantUp := shardLines(t, mustRead(t, whole))
	var merged []string
	for i := 1; i <= shards; i++ {
		ps, up := shardLines(t, mustRead(t, filepath.Join(dir, fmt.Sprintf("shard%d.json", i))))
		merged = append(merged, ps...)
		if !slices.Equal(up, wantUp) {
			t.Errorf("shard %d/%d found up %v, the unsharded scan %v", i, shards, up, wantUp)
		}
	}
	slices.Sort(merged)
	if !slices.Equal(merged, wantPorts) {
		t.Errorf("the shards' port lines merged (%d) differ from the unsharded scan's (%d):\n%s\nvs\n%s",
			len(merged), len(wantPorts), strings.Join(merged, "\n"), strings.Join(wantPorts, "\n"))
	}
	var liveStr []string
	for _, a := range live {
		liveStr = append(liveStr, a.String())
	}
	slices.Sort(liveStr)
	if !slices.Equal(wantUp, liveStr) {
		t.Errorf("hosts up %v, want %v", wantUp, liveStr)
	}
	opened := 0
	for _, l := range wantPorts {
		if strings.HasSuffix(l, " open") {
			opened++
			if addrPort, _, _ := strings.Cut(l, "/"); !open[addrPort] {
				t.Errorf("%s is open, not one of the listeners", addrPort)
			}
		}
	}
	if opened != len(open) {
		t.Errorf("%d open ports in the unsharded scan, want %d:\n%s", opened, len(open), strings.Join(wantPorts, "\n"))
	}
}

// shardLines reads an -oJ file: its port lines as "ADDR:PORT/PROTO
// STATE", sorted, and the addresses of its host records that are up,
// sorted.
func shardLines(t *testing.T, data []byte) (portLines, up []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l struct {
			Record, Addr, Proto, State string
			Port                       uint16
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("-oJ line %q: %v", sc.Text(), err)
		}
		switch {
		case l.Record == "host" && l.State == "up":
			up = append(up, l.Addr)
		case l.Record == "":
			portLines = append(portLines, netip.AddrPortFrom(netip.MustParseAddr(l.Addr), l.Port).String()+"/"+l.Proto+" "+l.State)
		}
	}
	slices.Sort(portLines)
	slices.Sort(up)
	return portLines, up
}
