package filter

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// cmpOpts compares trees and errors.
var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Prefix{}), cmpopts.EquateErrors()}

// Helpers to write expected trees.

func prim(p Primitive) *Expr { return &Expr{Op: OpPrim, Prim: p} }
func andE(x, y *Expr) *Expr  { return &Expr{Op: OpAnd, X: x, Y: y} }
func orE(x, y *Expr) *Expr   { return &Expr{Op: OpOr, X: x, Y: y} }
func notE(x *Expr) *Expr     { return &Expr{Op: OpNot, X: x} }
func proto(p Proto) *Expr    { return prim(Primitive{Kind: KindProto, Proto: p}) }
func host(a string) Primitive {
	return Primitive{Kind: KindHost, Net: netip.MustParsePrefix(a + bitsOf(a))}
}
func netP(n string) Primitive { return Primitive{Kind: KindNet, Net: netip.MustParsePrefix(n)} }
func portP(n uint16) Primitive {
	return Primitive{Kind: KindPort, Ports: ports.Range{First: ports.Port(n), Last: ports.Port(n)}}
}
func rangeP(a, b uint16) Primitive {
	return Primitive{Kind: KindPortRange, Ports: ports.Range{First: ports.Port(a), Last: ports.Port(b)}}
}

func bitsOf(a string) string {
	if strings.Contains(a, ":") {
		return "/128"
	}
	return "/32"
}

func with(p Primitive, pr Proto, d Dir) Primitive { p.Proto, p.Dir = pr, d; return p }

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want *Expr
		str  string // want String(); "" if the same as in
	}{
		{"", nil, ""},
		{" \t\n", nil, ""},
		{"tcp", proto(ProtoTCP), ""},
		{"icmp6", proto(ProtoICMP6), ""},
		{"host 10.0.0.1", prim(host("10.0.0.1")), ""},
		{"host ::1", prim(host("::1")), ""},
		{"host ::ffff:1.2.3.4", prim(host("::ffff:1.2.3.4")), ""},
		{"host 010.001.0.1", prim(host("10.1.0.1")), "host 10.1.0.1"},
		{"src 10.0.0.1", prim(with(host("10.0.0.1"), ProtoNone, DirSrc)), "src host 10.0.0.1"},
		{"ip dst host 10.0.0.1", prim(with(host("10.0.0.1"), ProtoIP, DirDst)), ""},
		{"mpls 100 and mpls", andE(prim(Primitive{Kind: KindMPLS, Num: 100, HasNum: true}), prim(Primitive{Kind: KindMPLS})), ""},
		{"pppoes 0x10 and pppoed", andE(prim(Primitive{Kind: KindPPPoES, Num: 16, HasNum: true}), prim(Primitive{Kind: KindPPPoED})), "pppoes 16 and pppoed"},
		{"llc and llc ui", andE(prim(Primitive{Kind: KindLLC}), prim(Primitive{Kind: KindLLC, LLC: "ui"})), ""},
		{"inbound or outbound", orE(prim(Primitive{Kind: KindInbound}), prim(Primitive{Kind: KindOutbound})), ""},
		{"stp", prim(Primitive{Kind: KindEtherProto, Proto: ProtoEther, Num: 0x42}), "ether proto 66"},
		{"ether proto \\atalk", prim(Primitive{Kind: KindEtherProto, Proto: ProtoEther, Num: 0x809b}), "ether proto 32923"},
		{"src or dst host ::1", prim(with(host("::1"), ProtoNone, DirSrcOrDst)), ""},
		{"dst or src host ::1", prim(with(host("::1"), ProtoNone, DirSrcOrDst)), "src or dst host ::1"},
		{"dst and src host ::1", prim(with(host("::1"), ProtoNone, DirSrcAndDst)), "src and dst host ::1"},
		{"src || dst port 1", prim(with(portP(1), ProtoNone, DirSrcOrDst)), "src or dst port 1"},
		{"arp host 10.0.0.1", prim(with(host("10.0.0.1"), ProtoARP, DirAny)), ""},
		{"net 10.0.0.0/8", prim(netP("10.0.0.0/8")), ""},
		{"net 10", prim(netP("10.0.0.0/8")), "net 10.0.0.0/8"},
		{"net 172.16", prim(netP("172.16.0.0/16")), "net 172.16.0.0/16"},
		{"net 192.168.1", prim(netP("192.168.1.0/24")), "net 192.168.1.0/24"},
		{"net 192.168.1.7", prim(netP("192.168.1.7/32")), "net 192.168.1.7/32"},
		{"net 0", prim(netP("0.0.0.0/32")), "net 0.0.0.0/32"}, // as tcpdump
		{"net 0.10", prim(netP("10.0.0.0/8")), "net 10.0.0.0/8"},
		{"net 10.1/16", prim(netP("10.1.0.0/16")), "net 10.1.0.0/16"},
		{"net 10/8", prim(netP("10.0.0.0/8")), "net 10.0.0.0/8"},
		{"net 0.0.0.0/0", prim(netP("0.0.0.0/0")), ""},
		{"ip6 net fe80::/10", prim(with(netP("fe80::/10"), ProtoIP6, DirAny)), ""},
		{"net ::1", prim(netP("::1/128")), "net ::1/128"},
		{"port 80", prim(portP(80)), ""},
		{"port 0x50", prim(portP(80)), "port 80"},
		{"port 0120", prim(portP(80)), "port 80"},
		{"port 0", prim(portP(0)), ""},
		{"udp src port 65535", prim(with(portP(65535), ProtoUDP, DirSrc)), ""},
		{"port http", prim(Primitive{Kind: KindPort, Service: "http"}), ""},
		{"tcp port HTTP", prim(Primitive{Kind: KindPort, Proto: ProtoTCP, Service: "HTTP"}), ""},
		{"port ftp-data", prim(Primitive{Kind: KindPort, Service: "ftp-data"}), ""},
		{"portrange 10-20", prim(rangeP(10, 20)), ""},
		{"portrange 20-10", prim(rangeP(10, 20)), "portrange 10-20"},
		{"portrange 80", prim(rangeP(80, 80)), "portrange 80-80"},
		{"sctp portrange 0-65535", prim(with(rangeP(0, 65535), ProtoSCTP, DirAny)), ""},
		{"tcp portrange 25-smtp", prim(Primitive{Kind: KindPortRange, Proto: ProtoTCP, Ports: ports.Range{First: 25, Last: 25}, Service: "25-smtp"}), ""},
		{"portrange shell-login", prim(Primitive{Kind: KindPortRange, Ports: ports.Range{First: 513, Last: 514}, Service: "shell-login"}), ""},
		{"sctp port domain", prim(Primitive{Kind: KindPort, Proto: ProtoSCTP, Service: "domain"}), ""},
		{"net 10.0.0.0 mask 255.0.255.0", prim(Primitive{Kind: KindNet, Net: netip.MustParsePrefix("10.0.0.0/32"), Mask: 0xff00ff00}), ""},
		{"net 172.16 mask 255.255.0.0", prim(Primitive{Kind: KindNet, Net: netip.MustParsePrefix("172.16.0.0/16")}), "net 172.16.0.0/16"},
		{"host 10.1", prim(Primitive{Kind: KindNet, Net: netip.MustParsePrefix("10.1.0.0/16")}), "net 10.1.0.0/16"},
		{"host 0xAC11591E", prim(Primitive{Kind: KindHost, Net: netip.MustParsePrefix("172.17.89.30/32")}), "host 172.17.89.30"},
		{"host ::1/128", prim(Primitive{Kind: KindHost, Net: netip.MustParsePrefix("::1/128")}), "host ::1"},
		// Operators: not binds tightest; and and or are equal and group
		// to the left.
		{"not tcp", notE(proto(ProtoTCP)), ""},
		{"!tcp", notE(proto(ProtoTCP)), "not tcp"},
		{"not not tcp", notE(notE(proto(ProtoTCP))), ""},
		{"tcp and udp", andE(proto(ProtoTCP), proto(ProtoUDP)), ""},
		{"tcp&&udp||icmp", orE(andE(proto(ProtoTCP), proto(ProtoUDP)), proto(ProtoICMP)), "(tcp and udp) or icmp"},
		{"tcp or udp and icmp", andE(orE(proto(ProtoTCP), proto(ProtoUDP)), proto(ProtoICMP)), "(tcp or udp) and icmp"},
		{"tcp or (udp and icmp)", orE(proto(ProtoTCP), andE(proto(ProtoUDP), proto(ProtoICMP))), ""},
		{"tcp and udp and icmp", andE(andE(proto(ProtoTCP), proto(ProtoUDP)), proto(ProtoICMP)), ""},
		{"not (tcp or udp)", notE(orE(proto(ProtoTCP), proto(ProtoUDP))), ""},
		{"((tcp))", proto(ProtoTCP), "tcp"},
		{"not tcp and udp", andE(notE(proto(ProtoTCP)), proto(ProtoUDP)), ""},
		// Repeated qualifiers.
		{"host 10.0.0.1 or 10.0.0.2", orE(prim(host("10.0.0.1")), prim(host("10.0.0.2"))), "host 10.0.0.1 or host 10.0.0.2"},
		{"tcp dst port 80 or 443 and 8080",
			andE(orE(prim(with(portP(80), ProtoTCP, DirDst)), prim(with(portP(443), ProtoTCP, DirDst))), prim(with(portP(8080), ProtoTCP, DirDst))),
			"(tcp dst port 80 or tcp dst port 443) and tcp dst port 8080"},
		{"host 10.0.0.1 and not 10.0.0.2", andE(prim(host("10.0.0.1")), notE(prim(host("10.0.0.2")))), "host 10.0.0.1 and not host 10.0.0.2"},
		{"not host 10.0.0.1 and 10.0.0.2", andE(notE(prim(host("10.0.0.1"))), prim(host("10.0.0.2"))), "not host 10.0.0.1 and host 10.0.0.2"},
		{"host (10.0.0.1 or 10.0.0.2)", orE(prim(host("10.0.0.1")), prim(host("10.0.0.2"))), "host 10.0.0.1 or host 10.0.0.2"},
		{"port (not 80 and 443)", andE(notE(prim(portP(80))), prim(portP(443))), "not port 80 and port 443"},
		{"port 80 or (443 or 22)", orE(prim(portP(80)), orE(prim(portP(443)), prim(portP(22)))), "port 80 or (port 443 or port 22)"},
		// After a parenthesised group, the qualifiers from before it.
		{"port 1 or (host 10.0.0.1) or 2", orE(orE(prim(portP(1)), prim(host("10.0.0.1"))), prim(portP(2))), "port 1 or host 10.0.0.1 or port 2"},
		{"host 10.0.0.1 or net 10 or 11", orE(orE(prim(host("10.0.0.1")), prim(netP("10.0.0.0/8"))), prim(netP("11.0.0.0/8"))), "host 10.0.0.1 or net 10.0.0.0/8 or net 11.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			wantStr := tt.str
			if wantStr == "" {
				wantStr = strings.TrimSpace(tt.in)
			}
			if s := got.String(); s != wantStr {
				t.Errorf("String() = %q, want %q", s, wantStr)
			}
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			if diff := cmp.Diff(got, again, cmpOpts); diff != "" {
				t.Errorf("Parse(String()) (-first +second):\n%s", diff)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		in  string
		pos int // byte offset
		msg string
	}{
		{"hots 1.2.3.4", 0, "unknown word 'hots'"},
		{"HOST 1.2.3.4", 0, "unknown word 'HOST'"},
		{"port", 4, "expected a port number or name after 'port'"},
		{"tcp port and udp", 9, "expected a port number or name after 'port', not 'and'"},
		{"port *", 5, "expected a port number or name after 'port', not '*'"},
		{"port htp", 5, "unknown port 'htp' (not a TCP or UDP service in the IANA registry)"},
		{"sctp port login", 10, "port 'login' is not the same port over tcp and udp in the IANA registry, which sctp needs"},
		{"udp portrange login-shell", 14, "port in range 'login-shell' is tcp"},
		{"portrange ftp-data-ftp", 10, "unknown port in range 'ftp-data-ftp' (want A-B, each a decimal port or a TCP or UDP service in the IANA registry)"},
		{"port 70000", 5, "illegal port number 70000 > 65535"},
		{"port 08", 5, "number 08 contains a non-octal digit (a leading 0 means octal)"},
		{"port 99999999999", 5, "number 99999999999 is too large"},
		{"portrange 1-2-3", 10, "expected a port range (A-B, in decimal) after 'portrange', not '1-2-3'"},
		{"portrange 1-70000", 10, "illegal port number 70000 > 65535"},
		{"portrange", 9, "expected a port range (A-B) after 'portrange'"},
		{"(tcp", 0, "unbalanced parentheses: '(' without ')'"},
		{"tcp)", 3, "unbalanced parentheses: ')' without '('"},
		{"(tcp or (udp)", 0, "unbalanced parentheses: '(' without ')'"},
		{"(tcp udp)", 5, "expected ')' or 'and' or 'or' before 'udp' (for the '(' at position 1)"},
		{"()", 1, "empty parentheses"},
		{"host (10.0.0.1", 5, "unbalanced parentheses: '(' without ')'"},
		{"net 10.0.0.1/8", 4, "non-network bits set in '10.0.0.1/8'"},
		{"net 10.0.0.0/33", 4, "invalid prefix length in '10.0.0.0/33' (want 0 to 32)"},
		{"net fe80::1/10", 4, "non-network bits set in 'fe80::1/10'"},
		{"net fe80::/129", 4, "invalid prefix length in 'fe80::/129' (want 0 to 128)"},
		{"net 1.2.3.4.5", 4, "invalid network '1.2.3.4.5' (want A.B.C.D/LEN, or A, A.B, A.B.C)"},
		{"net fe80::%eth0", 4, "invalid IPv6 network 'fe80::%eth0'"},
		{"net 10.0.0.0 mask 255.0.255.0 and net 10.0.0.1 mask 255.0.255.0", 38, "non-network bits set in '10.0.0.1 mask 255.0.255.0'"},
		{"ip6 host ::1/64", 9, "non-network bits set in '::1/64'"},
		{"net 172.16.0.1 mask 255.255.0.0", 4, "non-network bits set in '172.16.0.1 mask 255.255.0.0'"},
		{"host 256.1.1.1", 5, "invalid IPv4 address '256.1.1.1'"},
		{"host 10.0.0.0/8", 5, "'10.0.0.0/8' has a mask, which only a network takes: use net, not host"},
		{"host fe80::1%eth0", 5, "'fe80::1%eth0': IPv6 zones are not supported"},
		{"host fe80:::1", 5, "invalid IPv6 address 'fe80:::1'"},
		{"host example.com", 5, "'example.com' is not an IP address (host names need a resolver: filter.Config.Resolver)"},
		{"tcp host 1.2.3.4", 0, "'tcp' modifier applied to host (only ip, ip6, arp and rarp qualify host)"},
		{"icmp src 1.2.3.4", 0, "'icmp' modifier applied to host (only ip, ip6, arp and rarp qualify host)"},
		{"ip port 80", 0, "illegal qualifier 'ip' of 'port' (only tcp, udp and sctp qualify port)"},
		{"ip6 host 1.2.3.4", 9, "'ip6' modifier applied to ip host"},
		{"ip host ::1", 8, "'ip' modifier applied to ip6 host"},
		{"arp net ::/0", 8, "'arp' modifier applied to ip6 net"},
		{"tcp or 80", 7, "'80' needs a qualifier, such as host, net or port, in front of it"},
		{"tcp or not (80)", 12, "'80' needs a qualifier, such as host, net or port, in front of it"},
		{"10.0.0.1", 0, "'10.0.0.1' needs a qualifier, such as host, net or port, in front of it"},
		{"(host 10.0.0.1) or 10.0.0.2", 19, "'10.0.0.2' needs a qualifier, such as host, net or port, in front of it"},
		{"port 1 or (host 10.0.0.1) or 10.0.0.2", 29, "unknown port '10.0.0.2' (not a TCP or UDP service in the IANA registry)"},
		{"port 80 or (443 or tcp)", 19, "expected a port number or name, not 'tcp', in the list for 'port'"},
		{"tcp 80", 4, "expected 'and' or 'or' before '80'"},
		{"host 10.0.0.1 or hots 10.0.0.2", 17, "unknown word 'hots'"},
		{"tcp port 80 and hots", 16, "unknown port 'hots' (not a TCP or UDP service in the IANA registry)"},
		{"tcp and", 7, "expected a primitive after 'and'"},
		{"not", 3, "expected a primitive after 'not'"},
		{"or tcp", 0, "expected a primitive before 'or'"},
		{"tcp and or udp", 8, "expected a primitive before 'or'"},
		{"geneve and tcp", 0, "not supported: geneve (pcap-filter feature)"},
		{"vxlan 5", 0, "unknown word 'vxlan' (not in libpcap 1.10's filter language)"},
		{"mpls 1048576", 5, "MPLS label 1048576 greater than maximum 1048575"},
		{"pppoes 65536", 7, "PPPoE session number 65536 greater than maximum 65535"},
		{"llc foo", 4, "unknown LLC type name 'foo'"},
		{"decnet host 1.2", 0, "not supported: decnet host (pcap-filter feature)"},
		{"stp host 1.2.3.4", 0, "'stp' modifier applied to host"},
		{"ether proto \\dn", 12, "unknown ether proto 'dn'"},
		{"ah[0] = 1", 0, "not supported: ah (pcap-filter feature)"},
		{"ether host 1:2:3:4:5", 11, "bogus ethernet address '1:2:3:4:5'"},
		{"tcp[13] & 2 !=", 14, "expected a number or byte offset at the end"},
		{"ip[0:3] = 1", 5, "data size must be 1, 2, or 4"},
		{"ip[0] / 0 = 1", 6, "division by zero"},
		{"ip[0] % 0 = 1", 6, "modulus by zero"},
		{"ip[0] << 32 = 1", 6, "shift by more than 31 bits"},
		{"ip[0] = 4294967296", 8, "number 4294967296 overflows 32 bits"},
		{"vlan 4096", 5, "VLAN tag 4096 greater than maximum 4095"},
		{"tcp & udp", 4, "unexpected '&' (for and write '&&'; bitwise operators go in a comparison)"},
		{"tcp | udp", 4, "unexpected '|' (for or write '||'; bitwise operators go in a comparison)"},
		{"port 80 != 0", 8, "unexpected '!=' (a comparison needs a number or byte offset before it)"},
		{"src and src port 1", 4, "expected an IP address after 'src', not 'and'"},
		{strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300), 257, "expression nested too deeply"},
		{strings.Repeat("not ", 300) + "tcp", 1028, "expression nested too deeply"},
		{"host " + strings.Repeat("(", 300) + "1.2.3.4" + strings.Repeat(")", 300), 262, "expression nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, %v; want a *SyntaxError", e, err)
			}
			want := &SyntaxError{Expr: tt.in, Pos: tt.pos, Msg: tt.msg, Err: se.Err}
			if diff := cmp.Diff(*want, *se, cmpOpts); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := Parse("hots 1.2.3.4")
	if got, want := err.Error(), "filter: unknown word 'hots' at position 1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Parse("tcp port htp")
	if !errors.Is(err, ports.ErrUnknownService) {
		t.Errorf("Parse(tcp port htp) = %v, want an error wrapping ports.ErrUnknownService", err)
	}
	if _, err := Compile("tcp port", pcapfile.LinkTypeEthernet, 0); err == nil || !strings.Contains(err.Error(), "at position 9") {
		t.Errorf("Compile(tcp port) = %v, want the error at position 9", err)
	}
}
