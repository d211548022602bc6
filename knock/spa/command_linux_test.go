package spa_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// TestIntegrationServerCommand: the real fwknop client's command
// messages (-C) are run by ours as by fwknopd 2.6.10 for the same
// stanzas (ENABLE_CMD_EXEC, CMD_EXEC_USER, REQUIRE_USERNAME,
// REQUIRE_SOURCE_ADDRESS, a stanza without ENABLE_CMD_EXEC): the same
// files made, by the same user, with the command split at blanks and no
// shell; and our command messages are run by fwknopd.
func TestIntegrationServerCommand(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	k := fmt.Sprintf("KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(keys.Enc), b64(keys.HMAC))
	o := newOracle(t, p, func(string) string {
		return "SOURCE ANY\nREQUIRE_USERNAME alice\nENABLE_CMD_EXEC Y\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME bob\nENABLE_CMD_EXEC Y\nCMD_EXEC_USER nobody\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME carol\nOPEN_PORTS tcp/22\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME dave\nENABLE_CMD_EXEC Y\nREQUIRE_SOURCE_ADDRESS Y\n" + k
	})
	// Short directories (the packet must stay under 400 bytes) that
	// nobody may write to, one per server.
	dirs := map[int]string{}
	for _, port := range []int{spa.DefaultPort, ourPort} {
		d, err := os.MkdirTemp("", "spa-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
		dirs[port] = d
	}
	fwkd, ours := dirs[spa.DefaultPort], dirs[ourPort]
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	send := func(user, command string, allow ...string) {
		t.Helper()
		for _, port := range []int{spa.DefaultPort, ourPort} {
			c := strings.ReplaceAll(command, "D/", dirs[port]+"/")
			a := append([]string{"-D", p.B.Addr4.String(), "-p", strconv.Itoa(port), "--no-save-args", "--rc-file", filepath.Join(o.dir, "fwknoprc"),
				"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--spoof-user", user, "-C", c}, allow...)
			cmd := p.A.Command(context.Background(), fwknop, a...)
			cmd.Env = append(os.Environ(), "HOME="+o.dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("fwknop %s: %v: %s", strings.Join(a, " "), err, out)
			}
		}
	}
	waitBoth := func(name string) {
		t.Helper()
		porttest.WaitFor(t, "fwknopd and ours to make "+name, func() bool {
			return porttest.Exists(filepath.Join(fwkd, name)) && porttest.Exists(filepath.Join(ours, name))
		})
	}
	// Refused ones first, so that the granted ones after them show they
	// were handled.
	send("carol", "/usr/bin/touch D/carol", "-a", "127.0.0.3")                     // no ENABLE_CMD_EXEC
	send("dave", "/usr/bin/touch D/dave-s", "-s")                                  // 0.0.0.0 with REQUIRE_SOURCE_ADDRESS
	send("alice", "/nonexistent/cmd D/x", "-a", "127.0.0.1")                       // not found
	send("alice", "/usr/bin/touch D/"+strings.Repeat("l", 150), "-a", "127.0.0.1") // 400 bytes or more: GnuPG to fwknopd
	send("alice", "/usr/bin/touch D/a1", "-a", "127.0.0.1")
	waitBoth("a1")
	// Split at blanks only, no shell: quotes, ; and $ are literal.
	send("alice", "/usr/bin/touch D/a;b D/'c D/d' D/$HOME", "-s")
	waitBoth("$HOME")
	send("alice", "touch D/in-path", "-a", "127.0.0.1") // found in PATH
	waitBoth("in-path")
	send("dave", "/usr/bin/touch D/dave-a", "-a", "127.0.0.4")
	waitBoth("dave-a")
	send("bob", "/usr/bin/touch D/bob", "-a", "127.0.0.2") // as nobody
	waitBoth("bob")
	list := func(d string) []string {
		es, _ := os.ReadDir(d)
		var s []string
		for _, e := range es {
			s = append(s, e.Name())
		}
		return s
	}
	want := []string{"$HOME", "'c", "a1", "a;b", "bob", "d'", "dave-a", "in-path"}
	if f, our := list(fwkd), list(ours); !slices.Equal(f, our) || !slices.Equal(f, want) {
		t.Errorf("fwknopd's commands made %q, ours %q; want %q", f, our, want)
	}
	for _, d := range []string{fwkd, ours} {
		for _, name := range want {
			fi, err := os.Stat(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			uid, gid := "0", "0"
			if name == "bob" {
				uid, gid = nobody.Uid, nobody.Gid
			}
			if strconv.Itoa(int(st.Uid)) != uid || strconv.Itoa(int(st.Gid)) != gid {
				t.Errorf("%s: uid %d gid %d, want %s %s", filepath.Join(d, name), st.Uid, st.Gid, uid, gid)
			}
		}
	}
	for _, want := range []string{"command messages are not allowed", "request for 0.0.0.0 with REQUIRE_SOURCE_ADDRESS", `/nonexistent/cmd`, "a packet of 400 bytes or more is GnuPG-encrypted (fwknop -g), and no stanza"} {
		if !strings.Contains(o.ourLog.String(), want) {
			t.Errorf("our log does not say %q:\n%s", want, o.ourLog)
		}
	}

	// Ours to fwknopd.
	to := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	for i, tc := range []struct{ user, access, file string }{
		{"alice", "127.0.0.1,/usr/bin/touch " + fwkd + "/ours-1", "ours-1"},
		{"alice", "0.0.0.0,/usr/bin/touch " + fwkd + "/ours-2 " + fwkd + "/ours-3", "ours-3"},
		{"bob", "127.0.0.2,/usr/bin/touch " + fwkd + "/ours-bob", "ours-bob"},
	} {
		pkt, err := spa.Encode(&spa.Message{User: tc.user, Type: spa.CommandMsg, Access: tc.access}, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.A.Do(func() error { return spa.Send(context.Background(), to, pkt) }); err != nil {
			t.Fatal(err)
		}
		porttest.WaitFor(t, fmt.Sprintf("fwknopd to run our command %d", i+1), func() bool { return porttest.Exists(filepath.Join(fwkd, tc.file)) })
	}
	if !porttest.Exists(filepath.Join(fwkd, "ours-2")) {
		t.Errorf("fwknopd did not run our two-file command fully")
	}
	if fi, err := os.Stat(filepath.Join(fwkd, "ours-bob")); err != nil || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != nobody.Uid {
		t.Errorf("fwknopd did not run our command for bob as nobody: %v", err)
	}
	// A command too long for fwknopd is refused before it is sent.
	if _, err := spa.Encode(&spa.Message{User: "alice", Type: spa.CommandMsg, Access: "127.0.0.1,/usr/bin/touch /tmp/" + strings.Repeat("l", 200)}, keys, nil); err == nil || !strings.Contains(err.Error(), "GnuPG") {
		t.Errorf("Encode of a long command: %v", err)
	}
}
