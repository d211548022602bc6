package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedUpToDate fails when zdata.go was not regenerated after a
// change to the CSV or to the generator: run go generate ./registry.
func TestGeneratedUpToDate(t *testing.T) {
	want, err := Generate("../../service-names-port-numbers.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zdata.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("registry/zdata.go is stale (%d bytes, want %d): run go generate ./registry", len(got), len(want))
	}
}

func TestGenerateRejectsBadCSV(t *testing.T) {
	dir := t.TempDir()
	for name, csv := range map[string]string{
		"fields": "a,b\n1,2,3\n",
		"port":   "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12\nx,99999,tcp,,,,,,,,,\n",
		"proto":  "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12\nx,80,xtp,,,,,,,,,\n",
	} {
		path := dir + "/" + name + ".csv"
		if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Generate(path); err == nil {
			t.Errorf("%s: Generate accepted %q", name, csv)
		}
	}
}
