package pcapfile

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// The benchmarks read the same generated captures, 200,000 packets of
// 128 bytes, with this package and with gopacket's pcapgo. One op is one
// packet, so ns/op and allocs/op are per packet; pkts/s is 1e9 / ns/op.
// At the end of the input the reader is opened again, which costs its
// setup once per 200,000 packets.
//
//	go test -run '^$' -bench . -benchtime 2000000x ./pcapfile/
//
// BenchmarkReadFile reads from a file on disk (the page cache), or from
// the capture named by PCAPFILE_BENCH_FILE if set.
const (
	benchPackets = 200_000
	benchSize    = 128
)

var benchInputs = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"pcap":   genPcap(benchPackets, benchSize),
		"pcapng": genPcapng(benchPackets, benchSize),
	}
})

// packetReader is one reader under test: open starts it on src, read
// returns the next packet's data (nil, io.EOF at the end).
type packetReader struct {
	name string
	open func(src io.Reader, ng bool) (read func() ([]byte, error), err error)
}

var benchReaders = []packetReader{
	{"pcapfile", func(src io.Reader, _ bool) (func() ([]byte, error), error) {
		r, err := NewReader(src)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			if !r.Next() {
				if r.Err() == nil {
					return nil, io.EOF
				}
				return nil, r.Err()
			}
			return r.Packet().Data, nil
		}, nil
	}},
	{"pcapgo", func(src io.Reader, ng bool) (func() ([]byte, error), error) {
		return openPcapgo(src, ng, true)
	}},
	{"pcapgo-copy", func(src io.Reader, ng bool) (func() ([]byte, error), error) {
		return openPcapgo(src, ng, false)
	}},
}

// openPcapgo opens src with pcapgo, reading with ZeroCopyReadPacketData
// (zeroCopy) or ReadPacketData, which allocates each packet's data.
func openPcapgo(src io.Reader, ng, zeroCopy bool) (func() ([]byte, error), error) {
	var read func() ([]byte, gopacket.CaptureInfo, error)
	if ng {
		r, err := pcapgo.NewNgReader(src, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, err
		}
		read = r.ReadPacketData
		if zeroCopy {
			read = r.ZeroCopyReadPacketData
		}
	} else {
		r, err := pcapgo.NewReader(src)
		if err != nil {
			return nil, err
		}
		read = r.ReadPacketData
		if zeroCopy {
			read = r.ZeroCopyReadPacketData
		}
	}
	return func() ([]byte, error) {
		data, _, err := read()
		return data, err
	}, nil
}

// benchRead reads b.N packets with pr, reopening the input with reset at
// each end.
func benchRead(b *testing.B, pr packetReader, ng bool, bytesPerPacket int64, reset func() io.Reader) {
	read, err := pr.open(reset(), ng)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(bytesPerPacket)
	var sum byte
	for b.Loop() {
		data, err := read()
		if err == io.EOF {
			if read, err = pr.open(reset(), ng); err != nil {
				b.Fatal(err)
			}
			data, err = read()
		}
		if err != nil {
			b.Fatal(err)
		}
		sum += data[0]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	_ = sum
}

// BenchmarkRead reads from memory (a bytes.Reader): the cost of parsing
// and copying alone.
func BenchmarkRead(b *testing.B) {
	for _, format := range []string{"pcap", "pcapng"} {
		in := benchInputs()[format]
		for _, pr := range benchReaders {
			b.Run(format+"/"+pr.name, func(b *testing.B) {
				src := bytes.NewReader(in)
				benchRead(b, pr, format == "pcapng", int64(len(in)/benchPackets), func() io.Reader {
					src.Reset(in)
					return src
				})
			})
		}
	}
}

// BenchmarkReadFile reads from a file: the generated pcap written to a
// temporary file, or PCAPFILE_BENCH_FILE. pcapgo buffers with a 4 KiB
// bufio.Reader; pcapgo+bufio gives it a 256 KiB one, like this package's.
func BenchmarkReadFile(b *testing.B) {
	path := os.Getenv("PCAPFILE_BENCH_FILE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.pcap")
		if err := os.WriteFile(path, benchInputs()["pcap"], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// The format and the average size of a packet in the file.
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	ng := r.Format() == FormatPcapng
	n := int64(0)
	for _, err := range r.Packets() {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	if n == 0 {
		b.Fatalf("%s has no packets", path)
	}
	b.Logf("%s: %s, %d packets, %d bytes", path, r.Format(), n, st.Size())
	readers := append(benchReaders[:2:2], packetReader{"pcapgo+bufio", func(src io.Reader, ng bool) (func() ([]byte, error), error) {
		return openPcapgo(bufio.NewReaderSize(src, defaultBufSize), ng, true)
	}})
	for _, pr := range readers {
		b.Run(pr.name, func(b *testing.B) {
			var f *os.File
			benchRead(b, pr, ng, st.Size()/n, func() io.Reader {
				if f != nil {
					f.Close()
				}
				var err error
				if f, err = os.Open(path); err != nil {
					b.Fatal(err)
				}
				return f
			})
			f.Close()
		})
	}
}
