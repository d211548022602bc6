package scan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

func TestTopPortsLists(t *testing.T) {
	reg := registry.Default()
	for _, tt := range []struct {
		proto        ports.Proto
		list         []ports.Port
		notes        []topNote
		min, max, nd int
	}{
		{ports.ProtoTCP, topTCP[:], topTCPUnregistered[:], 1000, 1200, TopDefaultTCP},
		{ports.ProtoUDP, topUDP[:], topUDPUnregistered[:], 90, 110, TopDefaultUDP},
	} {
		t.Run(tt.proto.String(), func(t *testing.T) {
			if n := len(tt.list); n < tt.min || n > tt.max {
				t.Errorf("%d ports, want %d to %d", n, tt.min, tt.max)
			}
			seen := map[ports.Port]bool{}
			for i, p := range tt.list {
				if p == 0 {
					t.Errorf("rank %d: port 0", i+1)
				}
				if seen[p] {
					t.Errorf("rank %d: port %d listed twice", i+1, p)
				}
				seen[p] = true
			}
			noted := map[ports.Port]bool{}
			for _, n := range tt.notes {
				if noted[n.port] || n.why == "" || !seen[n.port] {
					t.Errorf("note for %d: duplicated, empty or for an unlisted port", n.port)
				}
				noted[n.port] = true
				if reg.Registered(tt.proto, n.port) {
					t.Errorf("port %d has a note but IANA assigns it for %v", n.port, tt.proto)
				}
			}
			for _, p := range tt.list {
				if !reg.Registered(tt.proto, p) && !noted[p] {
					t.Errorf("port %d/%v has no IANA assignment and no note saying what uses it", p, tt.proto)
				}
			}
			if got := DefaultPorts(tt.proto).Len(tt.proto); got != tt.nd {
				t.Errorf("DefaultPorts(%v) holds %d ports, want %d", tt.proto, got, tt.nd)
			}
		})
	}
}

func TestTopPorts(t *testing.T) {
	if diff := cmp.Diff([]ports.Port{80, 443, 22}, TopPorts(ports.ProtoTCP, 3)); diff != "" {
		t.Errorf("TopPorts(tcp, 3) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ports.Port{53, 123}, TopPorts(ports.ProtoUDP, 2)); diff != "" {
		t.Errorf("TopPorts(udp, 2) (-want +got):\n%s", diff)
	}
	if got := len(TopPorts(ports.ProtoTCP, 1<<20)); got != len(topTCP) {
		t.Errorf("TopPorts(tcp, huge) = %d ports, want the whole list (%d)", got, len(topTCP))
	}
	for _, n := range []int{0, -1} {
		if got := TopPorts(ports.ProtoTCP, n); got != nil {
			t.Errorf("TopPorts(tcp, %d) = %v, want nil", n, got)
		}
	}
	if got := TopPorts(ports.ProtoSCTP, 10); got != nil {
		t.Errorf("TopPorts(sctp, 10) = %v, want nil", got)
	}
	// The result is a copy.
	TopPorts(ports.ProtoTCP, 1)[0] = 1
	if topTCP[0] != 80 {
		t.Fatal("TopPorts returned the backing array")
	}
	// DefaultPorts holds exactly the top ports, for its protocol only.
	d := DefaultPorts(ports.ProtoTCP)
	for _, p := range TopPorts(ports.ProtoTCP, TopDefaultTCP) {
		if !d.Contains(ports.ProtoTCP, p) {
			t.Errorf("DefaultPorts(tcp) lacks %d", p)
		}
	}
	if d.Contains(ports.ProtoUDP, 80) || d.Contains(ports.ProtoTCP, topTCP[TopDefaultTCP]) {
		t.Errorf("DefaultPorts(tcp) holds ports beyond the top %d for tcp", TopDefaultTCP)
	}
	if !DefaultPorts(ports.ProtoSCTP).IsEmpty() {
		t.Error("DefaultPorts(sctp) is not empty")
	}
}
