package filter

import (
	"bytes"
	"testing"
)

// For the tests of package filter_test.

// DiffPrimitives are the primitives of TestDifferentialTcpdump.
var DiffPrimitives = diffPrimitives

// EthernetCorpus returns the frames of TestDifferentialTcpdump's
// Ethernet capture, each once: the shared captures' frames, the ones
// built from them and those of linkFrames, whole or cut short.
func EthernetCorpus(tb testing.TB) [][]byte {
	var out [][]byte
	seen := map[string]bool{}
	for _, c := range syntheticCaptures(readAllCaptures(tb)) {
		if c.name != "ethernet" {
			continue
		}
		for _, p := range c.pkts {
			if !seen[string(p.data)] {
				seen[string(p.data)] = true
				out = append(out, bytes.Clone(p.data))
			}
		}
	}
	return out
}
