package spa_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// TestIntegrationServerCommandSudo: with ENABLE_CMD_SUDO_EXEC, the real
// fwknop client's command messages run through sudo on ours as on
// fwknopd 2.6.10: the same command line (sudo, -u CMD_SUDO_EXEC_USER,
// the command), read from both logs, and the same files made by the
// same user; a stanza without ENABLE_CMD_EXEC runs nothing, sudo or not.
func TestIntegrationServerCommandSudo(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	if _, err := exec.LookPath(spa.DefaultSudoExe); err != nil {
		t.Skip("no sudo (Debian package sudo):", err)
	}
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	k := fmt.Sprintf("KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(keys.Enc), b64(keys.HMAC))
	o := newOracle(t, p, func(string) string {
		return "SOURCE ANY\nREQUIRE_USERNAME erin\nENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\nCMD_SUDO_EXEC_USER nobody\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME frank\nENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME gina\nENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\nCMD_SUDO_EXEC_USER root\n" + k + "\n" +
			"SOURCE ANY\nREQUIRE_USERNAME hank\nENABLE_CMD_EXEC N\nENABLE_CMD_SUDO_EXEC Y\nOPEN_PORTS tcp/22\n" + k
	})
	dirs := map[int]string{}
	for _, port := range []int{spa.DefaultPort, ourPort} {
		d, err := os.MkdirTemp("", "spa-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o777); err != nil { // nobody writes here
			t.Fatal(err)
		}
		dirs[port] = d
	}
	fwkd, ours := dirs[spa.DefaultPort], dirs[ourPort]
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	send := func(user, file string) {
		t.Helper()
		for _, port := range []int{spa.DefaultPort, ourPort} {
			a := []string{"-D", p.B.Addr4.String(), "-p", strconv.Itoa(port), "--no-save-args", "--rc-file", filepath.Join(o.dir, "fwknoprc"),
				"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--spoof-user", user,
				"-C", "/usr/bin/touch " + filepath.Join(dirs[port], file), "-a", "127.0.0.1"}
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
	send("hank", "hank") // refused first: the files after it show it was handled
	send("erin", "erin")
	waitBoth("erin")
	send("frank", "frank")
	waitBoth("frank")
	send("gina", "gina")
	waitBoth("gina")
	for _, d := range []string{fwkd, ours} {
		if porttest.Exists(filepath.Join(d, "hank")) {
			t.Errorf("%s: hank's command ran without ENABLE_CMD_EXEC", d)
		}
		for name, uid := range map[string]string{"erin": nobody.Uid, "frank": "0", "gina": "0"} {
			fi, err := os.Stat(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); got != uid {
				t.Errorf("%s: made by uid %s, want %s", filepath.Join(d, name), got, uid)
			}
		}
	}
	// The command lines, as each logs them.
	fwkdCmd := regexp.MustCompile(`Running command '([^']*)'`)
	ourCmd := regexp.MustCompile(`running server command \\"([^"\\]*)\\"`)
	var f, u []string
	for _, m := range fwkdCmd.FindAllStringSubmatch(o.fwkdLog.String(), -1) {
		f = append(f, strings.ReplaceAll(m[1], fwkd, "D"))
	}
	for _, m := range ourCmd.FindAllStringSubmatch(o.ourLog.String(), -1) {
		u = append(u, strings.ReplaceAll(m[1], ours, "D"))
	}
	want := []string{"/usr/bin/sudo -u nobody /usr/bin/touch D/erin", "/usr/bin/sudo /usr/bin/touch D/frank", "/usr/bin/sudo /usr/bin/touch D/gina"}
	if strings.Join(f, "\n") != strings.Join(want, "\n") || strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Errorf("command lines: fwknopd %q, ours %q; want %q", f, u, want)
	}
	if !strings.Contains(o.ourLog.String(), "command messages are not allowed") {
		t.Errorf("our log does not say hank's command was refused:\n%s", o.ourLog)
	}
}
