package config_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/mapper/config"
)

func problems(t *testing.T, text string) []string {
	t.Helper()
	_, err := config.Parse("c.toml", []byte(text))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want problems", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	return got
}

// TestParseEveryProblemOfARule: a bad listen did not hide a bad to, nor a
// bad knock a bad knock_window: each rule's problems are all reported.
func TestParseEveryProblemOfARule(t *testing.T) {
	got := problems(t, `[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:99999"
to = ["nowhere"]
max_conns = -1

[[rule]]
name = "k"
type = "tcp"
listen = "127.0.0.1:2222"
to = ["127.0.0.1:22"]
knock = "7000,x"
knock_window = "-5s"
`)
	want := []string{
		`c.toml:4: rule "a": listen: "127.0.0.1:99999": port "99999" is not 0-65535`,
		`c.toml:5: rule "a": to: destination "nowhere" is not HOST:PORT`,
		`c.toml:6: rule "a": max_conns: -1 is negative`,
		`c.toml:14: rule "k": knock_window: "-5s" is not a positive duration such as "30s"`,
	}
	if len(got) != 5 || !cmp.Equal(got[:3], want[:3]) || got[3] != want[3] {
		t.Errorf("problems:\n%q\nwant (and a knock problem at line 13):\n%q", got, want)
	}
	if len(got) == 5 && got[4][:len(`c.toml:13: rule "k": knock: `)] != `c.toml:13: rule "k": knock: ` {
		t.Errorf("no knock problem: %q", got[4])
	}
}

// TestParseOverlappingListeners: two rules on the same address and port
// passed the check and then failed at bind; :PORT and 0.0.0.0:PORT take
// the port on every address of their family.
func TestParseOverlappingListeners(t *testing.T) {
	rule := func(name, typ, listen string) string {
		return "[[rule]]\nname = \"" + name + "\"\ntype = \"" + typ + "\"\nlisten = \"" + listen + "\"\nto = [\"127.0.0.1:9\"]\nallow = [\"10.0.0.0/8\"]\n\n"
	}
	got := problems(t, rule("a", "tcp", "127.0.0.1:8080")+ // line 4
		rule("same", "tcp", "127.0.0.1:8080")+ // 11
		rule("udp", "udp", "127.0.0.1:8080")+ // 18: another protocol
		rule("v6", "tcp", "[::1]:8080")+ // 25: another family
		rule("any", "tcp", ":8080")+ // 32: 0.0.0.0 and ::
		rule("other", "tcp", "127.0.0.2:8081")+ // 39
		rule("any4", "tcp", "0.0.0.0:8081")+ // 46
		rule("zero", "tcp", "127.0.0.1:0")+ // 53: a free port each
		rule("zero2", "tcp", "127.0.0.1:0")) // 60
	want := []string{
		`c.toml:11: rule "same": listen: tcp 127.0.0.1:8080 overlaps tcp 127.0.0.1:8080 of rule "a" (line 4): both cannot listen there`,
		`c.toml:32: rule "any": listen: tcp 0.0.0.0:8080 overlaps tcp 127.0.0.1:8080 of rule "a" (line 4): both cannot listen there`,
		`c.toml:46: rule "any4": listen: tcp 0.0.0.0:8081 overlaps tcp 127.0.0.2:8081 of rule "other" (line 39): both cannot listen there`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
