package socktable

import (
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"golang.org/x/sys/unix"
)

// TestIntegrationEstimateAgreesWithSS holds 150 TCP connections and 20
// UDP sockets in a network namespace of the test's own (unshared on a
// locked thread) and checks that Estimate counts what ss lists there:
// TCP both ways, UDP, and each protocol alone.
func TestIntegrationEstimateAgreesWithSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("needs ss (iproute2)")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	runtime.LockOSThread() // the thread is left in the namespace: never unlocked, so it exits with the test
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Skipf("unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN: %v", err)
	}
	if err := linkUp("lo"); err != nil {
		t.Fatalf("lo up: %v", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 200)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 150 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, <-accepted)
	}
	for range 20 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	nsPath := fmt.Sprintf("/proc/%d/task/%d/ns/net", unix.Getpid(), unix.Gettid())
	count := func(args ...string) int {
		out, err := exec.Command("nsenter", append([]string{"--net=" + nsPath, "ss", "-H"}, args...)...).Output()
		if err != nil {
			t.Fatalf("ss %v: %v", args, err)
		}
		return strings.Count(string(out), "\n")
	}
	for _, tt := range []struct {
		opts Options
		ss   []string
	}{
		{Options{Protos: []ports.Proto{ports.ProtoTCP}}, []string{"-tan"}},
		{Options{Protos: []ports.Proto{ports.ProtoUDP}}, []string{"-uan"}},
		{Options{}, []string{"-tuan"}},
		{Options{Family: 6}, []string{"-tuan", "-6"}},
	} {
		want := count(tt.ss...)
		if got := Estimate(&tt.opts); got != want {
			t.Errorf("Estimate(%+v) = %d, ss %s lists %d", tt.opts, got, strings.Join(tt.ss, " "), want)
		}
	}
	if got := Estimate(&Options{NetNS: "x"}); got != 0 {
		t.Errorf("Estimate with NetNS = %d, want 0", got)
	}
}

// linkUp sets the interface name up in the calling thread's namespace.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// FuzzSockstatField checks that the sockstat parser never panics and
// returns no negative count.
func FuzzSockstatField(f *testing.F) {
	f.Add([]byte("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nUDP: inuse 2 mem 2\n"), "TCP:", "tw")
	f.Add([]byte("TCP: inuse"), "TCP:", "inuse")                      // a key without its number
	f.Add([]byte("TCP: inuse -3\n"), "TCP:", "inuse")                 // negative
	f.Add([]byte("TCP: inuse 99999999999999999999"), "TCP:", "inuse") // overflow
	f.Fuzz(func(t *testing.T, b []byte, line, key string) {
		if n := sockstatField(b, line, key); n < 0 {
			t.Fatalf("sockstatField(%q, %q, %q) = %d", b, line, key, n)
		}
	})
}
