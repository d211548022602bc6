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
