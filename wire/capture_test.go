package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portkit/ports/pcapfile"
)

// capturesDir returns the directory of the sample captures: the
// repository's copy, else the shared one. SOURCES.txt there says where
// each comes from and what it shows.
func capturesDir() string {
	for _, d := range []string{"../testdata/pcaps", "../../shared/testdata/pcaps"} {
		if _, err := os.Stat(filepath.Join(d, "SOURCES.txt")); err == nil {
			return d
		}
	}
	return "../testdata/pcaps"
}

// frame is one captured packet.
type frame struct {
	file    string
	n       int // 1-based, as tshark numbers frames
	link    pcapfile.LinkType
	data    []byte
	origLen int
}

// captureFiles returns the paths of the sample captures, skipping the
// test when they are missing.
func captureFiles(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(capturesDir(), pat))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skipf("no captures in %s", capturesDir())
	}
	sort.Strings(paths)
	return paths
}

// readCapture reads a pcap or pcapng file, telling them apart by magic
// number (one sample is pcapng named .pcap).
func readCapture(t testing.TB, path string) []frame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	var out []frame
	add := func(link layers.LinkType, data []byte, orig int) {
		out = append(out, frame{file: name, n: len(out) + 1, link: pcapfile.LinkType(link), data: data, origLen: orig})
	}
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			link := r.LinkType()
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					link = lt
				}
			}
			add(link, data, ci.Length)
		}
		return out
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		add(r.LinkType(), data, ci.Length)
	}
	return out
}

// allFrames reads every sample capture.
func allFrames(t testing.TB) []frame {
	var all []frame
	for _, path := range captureFiles(t) {
		all = append(all, readCapture(t, path)...)
	}
	return all
}
