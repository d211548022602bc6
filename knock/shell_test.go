package knock

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestShellSyntax(t *testing.T) {
	tests := []struct{ cmd, want string }{
		{"/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT", ""},
		{`/usr/bin/touch "/tmp/open %IP%"`, ""},
		{`/usr/sbin/iptables -I INPUT -s %IP% -m comment --comment 'knock; opened > here' -j ACCEPT`, ""},
		{`echo a\;b \> \| \$HOME`, ""},
		{"echo a#b 100$", ""},
		{"/sbin/iptables -A INPUT -s %IP% -j ACCEPT; logger opened", ";"},
		{"echo %IP% >> /var/log/knock.log", ">"},
		{"ufw allow from %IP% && logger ok", "&&"},
		{"a || b", "||"},
		{"a | b", "|"},
		{"a & b", "&"},
		{"a < f", "<"},
		{"(a)", "("},
		{"echo `date`", "`"},
		{`echo "at ` + "`date`" + `"`, "`"},
		{"echo $(date)", "$("},
		{`echo "$(date)"`, "$("},
		{`echo "$HOME"`, "$H"},
		{"echo ${X}", "${"},
		{"echo # comment", "#"},
	}
	for _, tt := range tests {
		if got := ShellSyntax(tt.cmd); got != tt.want {
			t.Errorf("ShellSyntax(%q) = %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

// TestParseConfigRefusesShellSyntax: knockd runs its commands through
// /bin/sh; ports knockd ran them as words, so ; and > became arguments
// (files named ";" and ">" were created). Such a command is refused,
// naming its line, unless Shell.
func TestParseConfigRefusesShellSyntax(t *testing.T) {
	const conf = `[options]
	logfile = /var/log/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	command     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT; echo %IP% > /tmp/knocked
	tcpflags    = syn
`
	_, err := ParseConfig(strings.NewReader(conf), "knockd.conf")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 7 || !strings.HasPrefix(err.Error(), `knockd.conf:7: COMMAND: shell syntax ";": `) || !strings.Contains(err.Error(), "--shell") {
		t.Fatalf("ParseConfig = %v, want a shell syntax error at line 7", err)
	}
	cfg, err := ParseConfigWith(strings.NewReader(conf), "knockd.conf", ConfigOptions{Shell: true})
	if err != nil || !cfg.Doors[0].Shell {
		t.Fatalf("with Shell: %v, %+v", err, cfg)
	}
}

// TestShellCommand runs commands with every kind of quoting around %IP%
// through the real /bin/sh: the address arrives as one word each time,
// and the script's text never holds it.
func TestShellCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out file")
	for _, ip := range []netip.Addr{netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("fd00::7")} {
		d := Door{Shell: true}
		cmd := `printf '%s\n' %IP% "%IP%" '%IP%' "a %IP% b" 'c %IP%'d > "` + out + `"; echo done >> '` + out + `'`
		argv, err := d.command(cmd, ip)
		if err != nil {
			t.Fatal(err)
		}
		if argv[0] != "/bin/sh" || argv[1] != "-c" || strings.Contains(argv[2], ip.String()) || argv[len(argv)-1] != ip.String() {
			t.Fatalf("argv %q", argv)
		}
		if b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v: %s", argv, err, b)
		}
		got, _ := os.ReadFile(out)
		a := ip.String()
		if want := a + "\n" + a + "\n" + a + "\n" + "a " + a + " b\n" + "c " + a + "d\ndone\n"; string(got) != want {
			t.Errorf("%s: the commands wrote %q, want %q", ip, got, want)
		}
	}
	// Without Shell the words are run directly, %IP% replaced in each.
	argv, err := (&Door{}).command(`/usr/bin/touch "/tmp/open %IP%"`, netip.MustParseAddr("198.18.0.7"))
	if err != nil || len(argv) != 2 || argv[1] != "/tmp/open 198.18.0.7" {
		t.Errorf("argv %q, %v", argv, err)
	}
}

// FuzzShellSyntax: what ShellSyntax reports is in the command, and
// ShellCommand never puts the address into the script's text.
func FuzzShellSyntax(f *testing.F) {
	for _, s := range []string{"a; b", `"$(x)"`, `'a;b'`, `a\;b`, "echo `x`", `"a \" ; b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		syn := ShellSyntax(s)
		if syn != "" && !strings.Contains(s, syn) {
			t.Fatalf("ShellSyntax(%q) = %q, not in the command", s, syn)
		}
		argv := ShellCommand(s, netip.MustParseAddr("198.18.0.1"))
		// The address is never pasted into the script.
		if len(argv) != 5 || argv[4] != "198.18.0.1" || strings.Contains(argv[2], "198.18.0.1") && !strings.Contains(s, "198.18.0.1") {
			t.Fatalf("ShellCommand(%q) = %q", s, argv)
		}
	})
}
