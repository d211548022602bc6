package render

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestSocketRow(t *testing.T) {
	remote := AddrPortV1{Addr: "::1", Port: 443}
	procs := []ProcessV1{{PID: 1, Name: "a"}, {PID: 22, Name: "b"}}
	tests := []struct {
		name  string
		s     SocketV1
		procs bool
		want  string
	}{
		{"listener", SocketV1{Proto: "tcp", State: "LISTEN", Local: AddrPortV1{"0.0.0.0", 80}, Service: "http", Class: "system", Processes: procs[:1]}, true,
			"tcp\tLISTEN\t0.0.0.0:80\t*\thttp\tsystem\ta/1"},
		{"client", SocketV1{Proto: "tcp", State: "ESTAB", Local: AddrPortV1{"::1", 50000}, Remote: &remote, Service: "https", Class: "system", Ephemeral: true, Processes: procs}, true,
			"tcp\tESTAB\t[::1]:50000*\t[::1]:443\thttps\tsystem\ta/1,b/22"},
		{"hidden", SocketV1{Proto: "udp", State: "UNCONN", Local: AddrPortV1{"127.0.0.1", 5}, Class: "system", Processes: []ProcessV1{}, ProcsHidden: true}, true,
			"udp\tUNCONN\t127.0.0.1:5\t*\t-\tsystem\t(needs root)"},
		{"none", SocketV1{Proto: "tcp", State: "TIME-WAIT", Local: AddrPortV1{"127.0.0.1", 5}, Remote: &remote, Class: "system", Processes: []ProcessV1{}}, true,
			"tcp\tTIME-WAIT\t127.0.0.1:5\t[::1]:443\t-\tsystem\t-"},
		{"no procs", SocketV1{Proto: "tcp", State: "LISTEN", Local: AddrPortV1{"::", 22}, Service: "ssh", Class: "system"}, false,
			"tcp\tLISTEN\t[::]:22\t*\tssh\tsystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SocketRow(tt.s, tt.procs); got != tt.want {
				t.Errorf("SocketRow = %q, want %q", got, tt.want)
			}
			if n, m := strings.Count(SocketHeader(tt.procs), "\t"), strings.Count(tt.want, "\t"); n != m {
				t.Errorf("header has %d tabs, row %d", n, m)
			}
		})
	}
}

func TestSocketJSON(t *testing.T) {
	s := SocketV1{Proto: "tcp", State: "LISTEN", Local: AddrPortOf(netip.MustParseAddrPort("[::1]:80"))}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"remote":null`, `"processes":null`, `"local":{"addr":"::1","port":80}`, `"ephemeral":false`, `"procs_hidden":false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"service"`) {
		t.Errorf("%s has an empty service", b)
	}
	s.Processes = []ProcessV1{}
	if b, _ := json.Marshal(s); !strings.Contains(string(b), `"processes":[]`) {
		t.Errorf("%s: want processes []", b)
	}
}
