package knock

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/wire"
)

const exampleConf = `# knockd.conf, as in knockd(1)
[options]
	UseSyslog
	logfile = /var/log/knockd.log
	Interface = veth0

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 10
	tcpflags    = syn
	command     = /sbin/iptables -A INPUT -s %IP% --dport 22 -j ACCEPT

[opencloseSSH]
	sequence      = 2222:udp,3333:tcp,4444:UDP
	seq_timeout   = 15
	tcpflags      = syn,!ack
	start_command = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --syn -j ACCEPT
	cmd_timeout   = 5
	stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --syn -j ACCEPT
	Target = 198.18.0.2
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(exampleConf), "knockd.conf")
	if err != nil {
		t.Fatal(err)
	}
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	want := &Config{UseSyslog: true, LogFile: "/var/log/knockd.log", Interface: "veth0", Doors: []Door{
		{Name: "openSSH", Line: 7, Sequence: Sequence{{7000, tcp}, {8000, tcp}, {9000, tcp}}, SeqTimeout: 10 * time.Second,
			TCPFlags: FlagMatch{Set: wire.TCPSyn}, StartCommand: "/sbin/iptables -A INPUT -s %IP% --dport 22 -j ACCEPT"},
		{Name: "opencloseSSH", Line: 13, Sequence: Sequence{{2222, udp}, {3333, tcp}, {4444, udp}}, SeqTimeout: 15 * time.Second,
			TCPFlags: FlagMatch{Set: wire.TCPSyn, Clear: wire.TCPAck}, CmdTimeout: 5 * time.Second,
			StartCommand: "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --syn -j ACCEPT",
			StopCommand:  "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --syn -j ACCEPT",
			Target:       netip.MustParseAddr("198.18.0.2")},
	}}
	if diff := cmp.Diff(want, cfg, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"sequence = 1", `c.conf:1: directive outside a section: "sequence = 1"`},
		{"[a]\nsequence = 1,x", `c.conf:2: SEQUENCE: knock port must be a number from 1 to 65535: "x"`},
		{"[a]\nsequence = 1:icmp", `c.conf:2: SEQUENCE: knock protocol must be tcp or udp: "1:icmp"`},
		{"[a]\nsequence = 1\ntcpflags = syn,foo", `c.conf:3: TCPFLAGS: unknown TCP flag (want fin, syn, rst, psh, ack or urg, optionally with !): "foo"`},
		{"[a]\nsequence = 1\nseq_timeout = -3", `c.conf:3: SEQ_TIMEOUT: want a whole number of seconds, at least 1: "-3"`},
		{"[a]\nsequence = 1\nfrobnicate = 2", `c.conf:3: unknown directive FROBNICATE in [a]: "frobnicate = 2"`},
		{"[a]\nsequence = 1\ncommand = echo 'x", `c.conf:3: COMMAND: unterminated ' in command: "echo 'x"`},
		{"[a]\n\n[b]\nsequence=1", `c.conf:1: section [a] has no Sequence or One_Time_Sequences`},
		{"[options]\nbogus = 1", `c.conf:2: unknown directive BOGUS in [options]: "bogus = 1"`},
		{"[]", `c.conf:1: empty section name: "[]"`},
		{"[a]\nsequence=1\n[a]\nsequence=2", `c.conf:3: section [a] given twice (first on line 1): "[a]"`},
		{"[a]\nsequence", `c.conf:2: want key = value: "sequence"`},
		{"[options]\nlogfile = /tmp/k.log\n", `c.conf: no doors: no section besides [options], so no knock would open anything`},
		{"# nothing\n", `c.conf: no doors: no section besides [options], so no knock would open anything`},
	}
	for _, tt := range tests {
		_, err := ParseConfig(strings.NewReader(tt.conf), "c.conf")
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseConfig(%q):\n got %v\nwant %s", tt.conf, err, tt.want)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("ParseConfig(%q): %T is not a *SyntaxError", tt.conf, err)
		}
		// The same, in the shape every configuration parser gives.
		if ps := cfgfile.ProblemsOf(err); len(ps) != 1 || ps[0].String() != tt.want || ps[0].File != "c.conf" {
			t.Errorf("ParseConfig(%q): problems %+v, want one: %s", tt.conf, ps, tt.want)
		}
	}
}

func TestOneTimeSequences(t *testing.T) {
	dir := t.TempDir()
	seqs := filepath.Join(dir, "seqs")
	if err := os.WriteFile(seqs, []byte("# used\n 1000,2000:udp\n 3000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(conf, []byte("[ots]\none_time_sequences = "+seqs+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Doors[0].Sequence.String(); got != "1000:tcp,2000:udp" {
		t.Fatalf("first sequence %s", got)
	}
	srv, _ := NewServer(ServerConfig{Config: cfg})
	srv.Handle(tcpHit(srcA, 1000, 0))
	srv.Handle(udpHit(srcA, 2000, time.Second))
	data, _ := os.ReadFile(seqs)
	if string(data) != "# used\n#1000,2000:udp\n 3000\n" {
		t.Errorf("after a knock the file is %q", data)
	}
	if f, _ := srv.Filter(); f != "tcp dst port 3000" {
		t.Errorf("filter after the knock: %q", f)
	}
	// The old sequence no longer opens.
	srv.Handle(tcpHit(srcB, 1000, 2*time.Second))
	if n := srv.m.Attempts(); n != 0 {
		t.Errorf("the used sequence started %d attempts", n)
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"touch /tmp/x", []string{"touch", "/tmp/x"}},
		{`  a  'b c'  "d \"e\" \$f" g\ h ''`, []string{"a", "b c", `d "e" $f`, "g h", ""}},
		{`sh -c 'echo %IP% >> /tmp/log'`, []string{"sh", "-c", "echo %IP% >> /tmp/log"}},
		{`a"b"'c'd`, []string{"abcd"}},
		{`"a\b"`, []string{`a\b`}},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SplitCommand(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"", "   ", `a 'b`, `a "b`, `a\`} {
		if got, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) = %q, want an error", bad, got)
		}
	}
	got, _ := ExpandCommand("/usr/bin/logger knock-from-%IP% '%IP% ok'", netip.MustParseAddr("fd00::1"))
	if diff := cmp.Diff([]string{"/usr/bin/logger", "knock-from-fd00::1", "fd00::1 ok"}, got); diff != "" {
		t.Errorf("ExpandCommand (-want +got):\n%s", diff)
	}
}

func TestParseSequence(t *testing.T) {
	s, err := ParseSequence(" 7000, 8000:UDP ,9000:tcp")
	if err != nil || s.String() != "7000:tcp,8000:udp,9000:tcp" {
		t.Errorf("ParseSequence = %v, %v", s, err)
	}
	for _, bad := range []string{"", "0", "65536", "1,,2", "1:sctp", "a", "1:tcp:udp"} {
		if s, err := ParseSequence(bad); err == nil {
			t.Errorf("ParseSequence(%q) = %v, want an error", bad, s)
		}
	}
	if _, err := ParseSequence(strings.Repeat("1,", MaxSequence) + "1"); err == nil {
		t.Errorf("a sequence of %d knocks was accepted", MaxSequence+1)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(exampleConf)
	f.Add("[a]\nsequence=1:udp\ncommand=\"x\\\"\" '%IP%'")
	f.Add("[options]\nUseSyslog\n[b]\ntcpflags=!syn,ack\nsequence = 1 , 2")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseConfig(strings.NewReader(s), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf:") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not one line naming the file: %q", err)
			}
			return
		}
		for _, d := range cfg.Doors {
			if len(d.Sequence) == 0 && d.OneTimeSequences == "" {
				t.Fatalf("door %q without a sequence", d.Name)
			}
			// A parsed sequence prints in a form that parses back the same.
			if len(d.Sequence) > 0 {
				back, err := ParseSequence(d.Sequence.String())
				if err != nil || back.String() != d.Sequence.String() {
					t.Fatalf("sequence %s re-parses as %v, %v", d.Sequence, back, err)
				}
			}
			if d.TCPFlags.Set&d.TCPFlags.Clear != 0 {
				t.Fatalf("flags both set and clear: %v", d.TCPFlags)
			}
		}
	})
}

func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"7000,8000:udp,9000", "1", "65535:TCP", " 1 : udp ", "0", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := ParseSequence(s)
		if err != nil {
			return
		}
		back, err := ParseSequence(seq.String())
		if err != nil || back.String() != seq.String() {
			t.Fatalf("%q -> %s -> %v, %v", s, seq, back, err)
		}
	})
}

func FuzzSplitCommand(f *testing.F) {
	f.Add(`a 'b c' "d\"e" f\ g`)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		if err == nil && len(words) == 0 {
			t.Fatal("no words and no error")
		}
	})
}
