package knock_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock"
)

// TestIntegrationKnockOpensKnockd: our client opens a sequence served by
// the real knockd, which runs in namespace B and sniffs its veth.
func TestIntegrationKnockOpensKnockd(t *testing.T) {
	knockd := porttest.LookTool(t, "knockd", "knockd")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "knockd.log")
	conf := filepath.Join(dir, "knockd.conf")
	writeFile(t, conf, fmt.Sprintf(`[options]
	LogFile = %s
[open]
	sequence    = 7000,8000:udp,9000
	seq_timeout = 30
	start_command = /usr/bin/touch %s/opened-%%IP%%
`, logFile, dir))
	p.B.Start(t, knockd, "-i", p.B.Link, "-c", conf)
	ctx := t.Context()
	porttest.WaitFor(t, "knockd to start", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Contains(b, []byte("listening on"))
	})

	seq, _ := knock.ParseSequence("7000,8000:udp,9000")
	// A wrong order first: knockd must not open.
	wrong, _ := knock.ParseSequence("7000,9000,8000:udp")
	if err := p.A.Do(func() error { return knock.Send(ctx, p.B.Addr4.String(), wrong, nil) }); err != nil {
		t.Fatalf("knock: %v", err)
	}
	porttest.WaitFor(t, "knockd to see the wrong knocks", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Contains(b, []byte(p.A.Addr4.String()+": open: Stage 1"))
	})
	if err := p.A.Do(func() error { return knock.Send(ctx, p.B.Addr4.String(), seq, nil) }); err != nil {
		t.Fatalf("knock: %v", err)
	}
	opened := filepath.Join(dir, "opened-"+p.A.Addr4.String())
	porttest.WaitFor(t, "knockd to run the command for "+p.A.Addr4.String(), func() bool { return porttest.Exists(opened) })
	b, _ := os.ReadFile(logFile)
	if n := strings.Count(string(b), "OPEN SESAME"); n != 1 {
		t.Errorf("knockd opened %d times, want once (the wrong order must not open); its log:\n%s", n, b)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// knockdServer runs our knockd in namespace B on its veth.
func knockdServer(t *testing.T, p *porttest.Pair, conf string) (*porttest.LogBuffer, func()) {
	t.Helper()
	cfg, err := knock.ParseConfig(strings.NewReader(conf), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	var logs porttest.LogBuffer
	srv, err := knock.NewServer(knock.ServerConfig{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.B.Do(func() error { return srv.Sniff(ctx, p.B.Link) })
	}()
	porttest.WaitFor(t, "the sniffer to start", func() bool {
		select {
		case err := <-done:
			if strings.Contains(err.Error(), "permission") {
				t.Skipf("needs CAP_NET_RAW: %v", err)
			}
			t.Fatalf("sniff: %v", err)
		default:
		}
		return strings.Contains(logs.String(), "listening on "+p.B.Link)
	})
	return &logs, func() {
		cancel()
		<-done
		srv.Close()
	}
}

// TestIntegrationKnockdServesKnockClient: knockd's own knock client opens
// a sequence served by our knockd; wrong order, a missing knock and a
// timeout do not, and each says why in the log.
func TestIntegrationKnockdServesKnockClient(t *testing.T) {
	knockCmd := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	logs, stop := knockdServer(t, p, fmt.Sprintf(`[options]
	Interface = ignored
[open]
	sequence      = 7000,8000:udp,9000
	seq_timeout   = 30
	tcpflags      = syn
	start_command = /usr/bin/touch '%[1]s/opened-%%IP%%'
	stop_command  = /usr/bin/touch '%[1]s/closed-%%IP%%'
	cmd_timeout   = 1
[slow]
	sequence      = 7500,7600
	seq_timeout   = 1
	start_command = /usr/bin/touch '%[1]s/slow-%%IP%%'
`, dir))
	defer stop()
	a := p.A.Addr4.String()
	knockFrom := func(args ...string) {
		t.Helper()
		out, err := p.A.Command(context.Background(), knockCmd, append([]string{p.B.Addr4.String()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("knock %v: %v: %s", args, err, out)
		}
	}
	opened := filepath.Join(dir, "opened-"+a)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong order", []string{"7000", "9000", "8000:udp"}, a + ": open: sequence reset: knock out of order (stage 1)"},
		{"missing knock", []string{"7000", "9000"}, a + ": open: sequence reset: knock out of order (stage 1)"},
		// Each case leaves no attempt behind (see the package doc's rules).
		{"timeout", []string{"-d", "1500", "7500", "7600"}, a + ": slow: sequence timeout (stage 1)"},
	}
	for _, c := range cases {
		before := strings.Count(logs.String(), c.want)
		knockFrom(c.args...)
		porttest.WaitFor(t, c.name+": log "+c.want, func() bool { return strings.Count(logs.String(), c.want) > before })
		if porttest.Exists(opened) || porttest.Exists(filepath.Join(dir, "slow-"+a)) || strings.Contains(logs.String(), "OPEN SESAME") {
			t.Fatalf("%s opened the door; log:\n%s", c.name, logs)
		}
	}
	knockFrom("7000", "8000:udp", "9000")
	porttest.WaitFor(t, "the start command", func() bool { return porttest.Exists(opened) })
	porttest.WaitFor(t, "the stop command after Cmd_Timeout", func() bool { return porttest.Exists(filepath.Join(dir, "closed-"+a)) })
	if !strings.Contains(logs.String(), a+": open: OPEN SESAME") {
		t.Errorf("no OPEN SESAME in the log:\n%s", logs)
	}
}

// TestIntegrationKnockIPv6 opens a door over IPv6 with our client and
// server (knockd 0.8 does not see IPv6; ours does).
func TestIntegrationKnockIPv6(t *testing.T) {
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	logs, stop := knockdServer(t, p, fmt.Sprintf("[v6]\nsequence = 7100:udp,7200\nstart_command = /usr/bin/touch %s/v6-%%IP%%\n", dir))
	defer stop()
	seq, _ := knock.ParseSequence("7100:udp,7200")
	if err := p.A.Do(func() error { return knock.Send(context.Background(), p.B.Addr6.String(), seq, nil) }); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the IPv6 knock to open", func() bool { return porttest.Exists(filepath.Join(dir, "v6-"+p.A.Addr6.String())) })
	if !strings.Contains(logs.String(), p.A.Addr6.String()+": v6: OPEN SESAME") {
		t.Errorf("log:\n%s", logs)
	}
}
