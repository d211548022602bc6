//go:build unix

package spa_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// TestServerCommandBounds: a server command is killed, with what it
// started, when its time is up; its output is logged up to 1 KiB; while
// MaxCommands run, one more command message is refused with a line.
func TestServerCommandBounds(t *testing.T) {
	keys, _ := spa.GenerateKeys(nil)
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	// Leaves a child behind that holds the output open.
	os.WriteFile(script, []byte("#!/bin/sh\nsleep 60 &\nexec sleep 60\n"), 0o755)
	logs := &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{
		Access:         []spa.Stanza{{EnableCmdExec: true, Keys: keys}},
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
		CommandTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	src := netip.MustParseAddrPort("198.51.100.9:4000")
	send := func(cmd string) error {
		t.Helper()
		p, err := spa.Encode(&spa.Message{User: "u", Type: spa.CommandMsg, Access: "198.51.100.9," + cmd}, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = srv.Handle([]byte(p), src)
		return err
	}
	if err := send("/usr/bin/head -c 5000 /dev/zero"); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the output logged", func() bool { return strings.Contains(logs.String(), "(and 3976 bytes more)") })
	for i := range spa.MaxCommands {
		if err := send(script); err != nil {
			t.Fatalf("command %d: %v", i+1, err)
		}
	}
	if err := send(script); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("too many commands running (%d)", spa.MaxCommands)) {
		t.Errorf("one command more than MaxCommands: %v", err)
	}
	porttest.WaitFor(t, "the commands killed", func() bool {
		return strings.Count(logs.String(), "server command "+script+": killed after 300ms") == spa.MaxCommands
	})
	// Their slots are free again, though their children held the output.
	porttest.WaitFor(t, "a command to run again", func() bool {
		return send("/bin/true") == nil
	})
}
