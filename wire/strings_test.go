package wire

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{TCPFlags(0), "[none]"},
		{TCPSyn, "[S]"},
		{TCPSyn | TCPAck, "[S.]"},
		{TCPPsh | TCPAck, "[P.]"},
		{TCPFin | TCPAck, "[F.]"},
		{TCPRst, "[R]"},
		{TCPFin | TCPSyn | TCPRst | TCPPsh | TCPAck | TCPUrg | TCPEce | TCPCwr | TCPAE, "[FSRP.UEWe]"},
		{TCPSyn | TCPEce | TCPCwr | TCPAE | 0x0e00, "[SEWe]"}, // reserved bits not shown
		{IPFlags(0), "[none]"},
		{IPDontFragment, "[DF]"},
		{IPMoreFragments, "[+]"},
		{IPMoreFragments | IPDontFragment | IPReserved, "[+, DF, rsvd]"},
		{Checksum{Value: 0x1c46, Status: ChecksumGood, Expected: 0x1c46}, "0x1c46 (correct)"},
		{Checksum{Value: 0x209c, Status: ChecksumBad, Expected: 0xe443}, "0x209c (incorrect -> 0xe443)"},
		{Checksum{Status: ChecksumNone}, "0x0000 (none)"},
		{Checksum{Value: 0xabcd}, "0xabcd (unverified)"},
		{ChecksumUnknown, "unknown"},
		{ChecksumStatus(9), "status(9)"},
		{EtherTypeQinQ, "802.1Q-QinQ"},
		{EtherType(46), "length 46"},
		{EtherType(0x88b5), "0x88b5"},
		{LayerTCP, "tcp"},
		{LayerIPv6, "ip6"},
		{Layer(99), "layer(99)"},
		{layerSet(LayerEthernet, LayerIPv4, LayerUDP), "eth/ip/udp"},
		{LayerSet(0), "none"},
		{SLLOutgoing, "Out"},
		{SLLPacketType(7), "type(7)"},
		{ExtFragment, "fragment"},
		{ExtHeader(200), "ext(200)"},
		{ICMPv4EchoRequest, "echo request"},
		{ICMPv4Type(99), "type-99"},
		{ICMPv6NeighborSolicit, "neighbor solicitation"},
		{TCPOptSACKPermitted, "sackOK"},
		{TCPOptionKind(99), "opt-99"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%#v).String() = %q, want %q", tt.v, tt.v, got, tt.want)
		}
	}
	errs := []struct {
		err  error
		want string
	}{
		{&DecodeError{Layer: LayerIPv4, Offset: 14, Reason: "version is not 4"}, "decode ip at byte 14: version is not 4"},
		{&EncodeError{Layer: LayerTCP, Reason: "options longer than 40 bytes"}, "encode tcp: options longer than 40 bytes"},
		{ErrUnsupportedLinkType, "unsupported link type"},
	}
	for _, tt := range errs {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestTCPOptions(t *testing.T) {
	tests := []struct {
		name     string
		raw      []byte
		complete bool
		want     TCPOptions
		kinds    []TCPOptionKind
	}{
		{"linux syn", []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}, true,
			TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSval: 1, HasWScale: true, WScale: 7},
			[]TCPOptionKind{TCPOptMSS, TCPOptSACKPermitted, TCPOptTimestamps, TCPOptNOP, TCPOptWScale}},
		{"eol then padding", []byte{1, 0, 2, 4, 5, 0xb4}, true, TCPOptions{}, []TCPOptionKind{TCPOptNOP, TCPOptEOL}},
		{"sack four blocks", append([]byte{5, 34}, make([]byte, 32)...), true, TCPOptions{NumSACK: 4}, []TCPOptionKind{TCPOptSACK}},
		{"mss of length 3", []byte{2, 3, 5, 1}, true, TCPOptions{Malformed: true}, []TCPOptionKind{TCPOptMSS, TCPOptNOP}},
		{"length 1", []byte{3, 1, 7, 0}, true, TCPOptions{Malformed: true}, nil},
		{"length past the end", []byte{8, 10, 0, 0}, true, TCPOptions{Malformed: true}, nil},
		{"cut by the capture", []byte{8, 10, 0, 0}, false, TCPOptions{}, nil},
		{"kind without length", []byte{1, 1, 1, 19}, true, TCPOptions{Malformed: true}, []TCPOptionKind{TCPOptNOP, TCPOptNOP, TCPOptNOP}},
		{"unknown kind", []byte{30, 4, 0, 0, 1, 1, 1, 1}, true, TCPOptions{}, []TCPOptionKind{TCPOptMPTCP, TCPOptNOP, TCPOptNOP, TCPOptNOP, TCPOptNOP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o TCPOptions
			o.parse(tt.raw, tt.complete)
			tt.want.Raw = tt.raw
			if diff := cmp.Diff(tt.want, o, cmpPacket); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
			var kinds []TCPOptionKind
			for k := range o.All() {
				kinds = append(kinds, k)
			}
			if diff := cmp.Diff(tt.kinds, kinds, cmpPacket); diff != "" {
				t.Errorf("All (-want +got):\n%s", diff)
			}
		})
	}
}
