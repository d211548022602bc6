package socktable

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// ssPIDs returns the pids in ss's users:(...) list for the TCP listener
// on port (of 127.0.0.1), sorted.
func ssPIDs(t *testing.T, ss string, port uint16) []int {
	t.Helper()
	out, err := exec.Command(ss, "-tlnpH", "src", fmt.Sprintf("127.0.0.1:%d", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	var pids []int
	for _, m := range regexp.MustCompile(`pid=(\d+),`).FindAllSubmatch(out, -1) {
		pid, _ := strconv.Atoi(string(m[1]))
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// TestIntegrationSharedSocketHolders checks that every process holding a
// listening socket is listed, as ss -tlnp lists them: the /proc walk used
// to stop at the first holder found.
func TestIntegrationSharedSocketHolders(t *testing.T) {
	ss := porttest.LookTool(t, "ss", "iproute2")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep (coreutils)")
	}
	// Three children inherit the socket as their fd 3, and hold it
	// until they are killed.
	want := []int{os.Getpid()}
	for range 3 {
		cmd := exec.Command(sleep, "1000")
		cmd.ExtraFiles = []*os.File{f}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		want = append(want, cmd.Process.Pid)
	}
	slices.Sort(want)

	opts := &Options{Protos: []ports.Proto{ports.ProtoTCP}, States: StatesOf(StateListen),
		LocalPorts: []ports.Range{{First: ports.Port(port), Last: ports.Port(port)}}, Processes: true}
	var got, fromSS []int
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last seen: ports %v, ss %v; want %v", got, fromSS, want)
		}
	})
	// Another test's child, between its fork and exec, holds every fd of
	// this process for a moment, so ss or ports may see one more holder
	// (never one fewer): wait until both see the same set, which must be
	// the four; a listing without one of the four fails at once.
	porttest.WaitFor(t, "ports and ss to list the same holders", func() bool {
		socks, err := Append(context.Background(), nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for _, s := range socks {
			if s.Local.Addr().String() == "127.0.0.1" {
				for _, p := range s.Procs {
					got = append(got, p.PID)
				}
			}
		}
		for _, pid := range want {
			if !slices.Contains(got, pid) {
				t.Fatalf("holders %v lack pid %d (want %v)", got, pid, want)
			}
		}
		fromSS = ssPIDs(t, ss, port)
		return slices.Equal(got, fromSS) && slices.Equal(fromSS, want)
	})
}

// TestScanFDsNoAllocs checks that reading a process's descriptors
// allocates nothing per descriptor (the path and the link stay on the
// stack), and that it finds a socket this process holds.
func TestScanFDsNoAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	for range 50 {
		g, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, g)
	}
	defer func() {
		for _, g := range held {
			g.Close()
		}
	}()
	dents := make([]byte, 128<<10)
	var link [64]byte
	found := false
	pid := os.Getpid()
	fn := func(ino uint64) { found = found || ino == st.Ino }
	if err := scanFDs(pid, dents, link[:], fn); err != nil || !found {
		t.Fatalf("scanFDs: err %v, found the listener's inode %d: %v", err, st.Ino, found)
	}
	// The directory's path costs its allocations once per process; the
	// descriptors cost none: 200 more give the same count.
	before := testing.AllocsPerRun(20, func() { scanFDs(pid, dents, link[:], fn) })
	for range 200 {
		g, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, g)
	}
	after := testing.AllocsPerRun(20, func() { scanFDs(pid, dents, link[:], fn) })
	if after != before || before > 2 {
		t.Errorf("scanFDs: %v allocations over 50 more descriptors, %v over 250, want the same and at most 2 (the path)", before, after)
	}
}

// FuzzParseInode: parseInode agrees with strconv.ParseUint on the
// digits of a "socket:[N]" link, and refuses anything else.
func FuzzParseInode(f *testing.F) {
	for _, s := range []string{"0", "12345", "18446744073709551615", "", "12a", "-1", "+1", " 1", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseInode([]byte(s))
		want, err := strconv.ParseUint(s, 10, 64)
		digitsOnly := len(s) > 0
		for _, c := range s {
			digitsOnly = digitsOnly && c >= '0' && c <= '9'
		}
		switch {
		case ok && (err != nil || got != want):
			t.Errorf("parseInode(%q) = %d, ParseUint: %d, %v", s, got, want, err)
		case !ok && err == nil && digitsOnly:
			t.Errorf("parseInode(%q) refused what ParseUint reads as %d", s, want)
		}
	})
}
