package cli

import (
	"strings"
	"testing"
)

// TestKillConnUsage: bad --conn and --kill command lines are one-line
// usage errors naming what was wrong, before anything is listed.
func TestKillConnUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"kill", "--conn", "127.0.0.1:1"}, "--conn takes LOCAL PEER"},
		{[]string{"kill", "--conn", "a", "b", "c"}, `unexpected argument "c"`},
		{[]string{"kill", "--conn", "localhost:80", "127.0.0.1:2"}, `LOCAL "localhost:80"`},
		{[]string{"kill", "--conn", "127.0.0.1:1", "[::1]"}, `PEER "[::1]"`},
		{[]string{"kill", "--conn", "127.0.0.1:0", "127.0.0.1:2"}, `LOCAL "127.0.0.1:0"`},
		{[]string{"kill", "--conn", "--signal", "KILL", "127.0.0.1:1", "127.0.0.1:2"}, "--signal does not apply"},
		{[]string{"ls", "-a", "--kill"}, "--kill needs a filter"},
		{[]string{"ls", "--kill", "--port", "80"}, "add -a or --state"},
		{[]string{"ls", "-a", "--kill", "--port", "80", "--watch"}, "--watch"},
		{[]string{"ls", "-a", "--kill", "--port", "80"}, "--yes"}, // stdin is not a terminal
	} {
		code, _, stderr := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want exit %d and one line with %q", strings.Join(c.args, " "), code, stderr, ExitUsage, c.want)
		}
	}
}
