package wire

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var cmpARP = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreUnexported(ARP{})}

func TestARPDecode(t *testing.T) {
	reply := (&ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}).AppendTo(nil)
	with := func(i int, v byte) []byte { b := bytes.Clone(reply); b[i] = v; return b }
	tests := []struct {
		name    string
		msg     []byte
		want    ARP
		wantErr string
	}{
		{"reply", reply, ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}, ""},
		{"reply with Ethernet padding", append(bytes.Clone(reply), make([]byte, 18)...),
			ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}, ""},
		{"request", with(7, 1), ARP{Op: ARPRequest, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}, ""},
		{"short", reply[:27], ARP{}, "message shorter than an Ethernet IPv4 ARP message"},
		{"IEEE 802 hardware", with(1, 6), ARP{}, "ARP hardware type not Ethernet"},
		{"8-byte hardware address", with(4, 8), ARP{}, "ARP hardware type not Ethernet"},
		{"IPv6 protocol", with(2, 0x86), ARP{}, "ARP protocol type not IPv4"},
		{"16-byte protocol address", with(5, 16), ARP{}, "ARP protocol type not IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ARP{Op: 9, SenderMAC: macA, SenderIP: ip4A, TargetIP: ip4B} // a used one
			err := a.Decode(tt.msg)
			if diff := cmp.Diff(tt.want, a, cmpARP); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			var de *DecodeError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Decode: %v, want no error", err)
			case tt.wantErr != "" && (!errors.As(err, &de) || de.Reason != tt.wantErr || !errors.Is(err, ErrMalformed)):
				t.Errorf("Decode: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestTsharkARP: what Decode reads of ARP messages in Ethernet frames,
// requests and replies built by AppendTo, is what tshark shows.
func TestTsharkARP(t *testing.T) {
	tshark := needTshark(t)
	var msgs []ARP
	for i := range 16 {
		a := ARP{Op: ARPRequest + uint16(i%2), SenderMAC: [6]byte{2, 0, 0, 0, byte(i), 1}, TargetMAC: [6]byte{2, 0, 0, byte(i), 0, 2},
			SenderIP: netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), TargetIP: netip.AddrFrom4([4]byte{192, 168, byte(i), 254})}
		if i%4 == 0 {
			a.TargetMAC = [6]byte{} // a request's unknown target
		}
		msgs = append(msgs, a)
	}
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i := range msgs {
		f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, msgs[i].SenderMAC[:]...)
		f = append(f, 0x08, 0x06)
		f = msgs[i].AppendTo(f)
		f = append(f, make([]byte, 60-len(f))...) // padding, as on the wire
		frames = append(frames, f)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "arp.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=\t",
		"-e", "arp.opcode", "-e", "arp.src.hw_mac", "-e", "arp.src.proto_ipv4", "-e", "arp.dst.hw_mac", "-e", "arp.dst.proto_ipv4")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark shows %d frames, want %d", len(lines), len(frames))
	}
	mac := func(m [6]byte) string {
		return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
	}
	for i, f := range frames {
		var a ARP
		if err := a.Decode(f[14:]); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		got := fmt.Sprintf("%d\t%s\t%s\t%s\t%s", a.Op, mac(a.SenderMAC), a.SenderIP, mac(a.TargetMAC), a.TargetIP)
		if got != lines[i] {
			t.Errorf("frame %d: Decode gives %q, tshark %q", i+1, got, lines[i])
		}
	}
}

// FuzzARP: Decode never panics, and what it decodes encodes back to the
// message's first 28 bytes.
func FuzzARP(f *testing.F) {
	f.Add((&ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}).AppendTo(nil))
	f.Add([]byte{0, 1, 8, 0, 6, 4, 0, 1}) // short
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := bytes.Clone(msg)
		var a ARP
		err := a.Decode(msg)
		if !bytes.Equal(in, msg) {
			t.Fatal("Decode changed its input")
		}
		if err != nil {
			if diff := cmp.Diff(ARP{}, a, cmpARP); diff != "" {
				t.Fatalf("Decode failed (%v) but set (-want +got):\n%s", err, diff)
			}
			return
		}
		if out := a.AppendTo(nil); !bytes.Equal(out, msg[:arpLen]) {
			t.Fatalf("AppendTo(Decode(%x)) = %x", msg[:arpLen], out)
		}
	})
}

func TestARPAllocs(t *testing.T) {
	good := (&ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ip4B, TargetMAC: macA, TargetIP: ip4A}).AppendTo(nil)
	var a ARP
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		_ = a.Decode(good)
		_ = a.Decode(good[:20])
		buf = a.AppendTo(buf[:0])
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
