package registry

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseMatchesDefault checks the run-time path (Parse, then indexes
// built on first use) against the compiled-in registry and its
// generated indexes: same records, same index.
func TestParseMatchesDefault(t *testing.T) {
	data, err := os.ReadFile("service-names-port-numbers.csv")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if diff := cmp.Diff(def.recs, parsed.recs); diff != "" {
		t.Fatalf("records differ (-default +parsed):\n%.2000s", diff)
	}
	if diff := cmp.Diff(*def.index(), *parsed.index()); diff != "" {
		t.Fatalf("indexes differ (-default +parsed):\n%.2000s", diff)
	}
}
