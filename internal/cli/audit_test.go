package cli

import (
	"strings"
	"testing"
)

// TestAuditUsage: bad input is one line naming it, exit 2, before
// anything is read.
func TestAuditUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--from", "10.0.0.300"}, `ports audit: --from "10.0.0.300" is not an IP address (see 'ports audit --help')` + "\n"},
		{[]string{"audit", "eth0"}, `ports audit: unexpected argument "eth0" (see 'ports audit --help')` + "\n"},
		{[]string{"audit", "--format", "yaml"}, ""},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || tc.want != "" && stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
