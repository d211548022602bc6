package main

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the end-to-end test run this test binary as sockhold:
// with SOCKHOLD_TEST_AS_MAIN=1 it is the command (and so are the workers
// it starts, which inherit the environment).
func TestMain(m *testing.M) {
	if os.Getenv("SOCKHOLD_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestHold(t *testing.T) {
	plans := []listenerPlan{
		{netip.MustParseAddr("127.0.0.1"), 5},
		{netip.MustParseAddr("127.0.0.1"), 3},
	}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		plans = append(plans, listenerPlan{netip.IPv6Loopback(), 2})
	}
	h, err := hold(context.Background(), plans)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	want := 0
	for _, p := range plans {
		want += 2 * p.Conns
	}
	if h.Sockets() != want {
		t.Errorf("Sockets() = %d, want %d", h.Sockets(), want)
	}
	for _, c := range h.conns {
		for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr()} {
			if !addrPort(a).Addr().IsLoopback() {
				t.Errorf("socket %v -> %v is not on loopback", c.LocalAddr(), c.RemoteAddr())
			}
		}
	}
}

func TestHoldRefusesOtherAddresses(t *testing.T) {
	for _, a := range []string{"192.0.2.1", "0.0.0.0", "::"} {
		_, err := hold(context.Background(), []listenerPlan{{netip.MustParseAddr(a), 1}})
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("hold on %s: %v, want a not-loopback error", a, err)
		}
	}
}

func TestHoldCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hold(ctx, []listenerPlan{{netip.MustParseAddr("127.0.0.1"), 10}}); err == nil {
		t.Error("hold with a canceled context: no error")
	}
}

// TestCommand runs the whole command with 3 workers: it must print
// "ready N", then stop cleanly when its stdin closes.
func TestCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-sockets", "61", "-procs", "3", "-addrs", "2")
	cmd.Env = append(os.Environ(), "SOCKHOLD_TEST_AS_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		in.Close()
		cmd.Wait()
		t.Fatalf("no output; stderr:\n%s", stderr.String())
	}
	if got, want := sc.Text(), "ready 62"; got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	in.Close()
	for sc.Scan() {
		t.Errorf("unexpected output %q", sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("sockhold: %v; stderr:\n%s", err, stderr.String())
	}
}

func TestCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-sockets", "0"},
		{"-procs", "-1"},
		{"-addrs", "0"},
		{"extra"},
		{"-nosuchflag"},
	} {
		var out, errOut strings.Builder
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr:\n%s", args, code, errOut.String())
		}
	}
}
