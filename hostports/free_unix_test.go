//go:build unix

package hostports

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports"
)

func TestBindBusy(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", errno)}
	}
	tests := []struct {
		err  error
		want bool
	}{
		{opErr(syscall.EADDRINUSE), true},
		{opErr(syscall.EACCES), true},
		{opErr(syscall.EADDRNOTAVAIL), false},
		{opErr(syscall.EPERM), false},
		{opErr(syscall.EAFNOSUPPORT), false},
		{errors.New("address already in use"), false},
	}
	for _, tt := range tests {
		if got := bindBusy(tt.err); got != tt.want {
			t.Errorf("bindBusy(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestFreeAddrNotAvailable binds an address from the documentation ranges
// of RFC 5737 that is not on this host; bind sends no packet.
func TestFreeAddrNotAvailable(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err == nil && strings.TrimSpace(string(b)) != "0" {
		t.Skip("net.ipv4.ip_nonlocal_bind is set: any address binds")
	}
	local, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var addr netip.Addr
candidates:
	for _, s := range []string{"192.0.2.1", "198.51.100.1", "203.0.113.1", "192.0.2.77"} {
		a := netip.MustParseAddr(s)
		for _, l := range local {
			if ipn, ok := l.(*net.IPNet); ok {
				if la, ok := netip.AddrFromSlice(ipn.IP); ok && la.Unmap() == a {
					continue candidates
				}
			}
		}
		addr = a
		break
	}
	if !addr.IsValid() {
		t.Skip("every candidate documentation address is on this host")
	}

	for _, proto := range []ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
		cfg := FreeConfig{Range: ports.Range{First: 20000, Last: 20100}, Addr: addr, Proto: []ports.Proto{proto}}
		got := collect(Free(t.Context(), cfg), 0)
		if len(got) != 1 || got[0].Port != 0 || got[0].Err == nil {
			t.Fatalf("Free(%v on %v) = %+v, want one error", proto, addr, got)
		}
		err := got[0].Err
		t.Logf("Free(%v on %v): %v", proto, addr, err)
		if !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("error %v is not EADDRNOTAVAIL", err)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Errorf("error %v is not a *net.OpError", err)
		}
	}
}
