package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationKnockdShellCommand: a knockd.conf command with shell
// syntax, as knockd users write them (; and >), used to run as one list
// of words, creating files named ";" and ">". Without --shell it is
// refused at load (exit 2, naming the line); with --shell the real knock
// client's sequence runs it through /bin/sh, and the address reaches the
// command as one word.
func TestIntegrationKnockdShellCommand(t *testing.T) {
	knock := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[options]
	logfile = %[1]s/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	tcpflags    = syn
	command     = echo opened for %%IP%% > "%[1]s/who"; echo '%%IP%%' >> %[1]s/who && touch %[1]s/done
`, dir)), 0o600)
	code, _, stderr := runQuickly(t, "knockd", "-c", conf, "-i", "lo")
	if want := conf + `:8: COMMAND: shell syntax ">": `; code != ExitUsage || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--shell") {
		t.Fatalf("without --shell: exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}

	errs, waitUntil := startInNetns(t, p.B, "knockd", "--shell", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool { return strings.Contains(errs.String(), "listening on "+p.B.Link+" (filter:") })
	if out, err := p.A.Command(t.Context(), knock, p.B.Addr4.String(), "7000", "8000", "9000").CombinedOutput(); err != nil {
		t.Fatalf("knock: %v: %s", err, out)
	}
	waitUntil("the command", func() bool { return porttest.Exists(filepath.Join(dir, "done")) })
	got, _ := os.ReadFile(filepath.Join(dir, "who"))
	if a := p.A.Addr4.String(); string(got) != "opened for "+a+"\n"+a+"\n" {
		t.Errorf("the command wrote %q", got)
	}
	for _, name := range []string{";", ">", "&&"} {
		if porttest.Exists(name) || porttest.Exists(filepath.Join(dir, name)) {
			t.Errorf("a file named %q was created", name)
		}
	}
}
