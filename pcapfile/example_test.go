package pcapfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/portkit/ports/pcapfile"
)

// Write two packets to a pcap file in memory and read them back.
func Example() {
	var buf bytes.Buffer
	w := pcapfile.NewWriter(&buf, pcapfile.LinkTypeRaw, 0, false)
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC).UnixNano()
	w.WritePacket(ts, []byte{0x45, 0x00, 0x00, 0x54}, 84) // the first 4 bytes of an 84-byte IPv4 packet
	w.WritePacket(ts+1500, []byte{0x60, 0x00}, 0)         // origLen 0: not truncated; 1.5 µs later
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}

	r, err := pcapfile.NewReader(&buf)
	if err != nil {
		log.Fatal(err)
	}
	for p, err := range r.Packets() {
		if err != nil {
			log.Fatal(err)
		}
		// p.Data is only valid until the next packet: copy it to keep it.
		fmt.Println(p.Time().Format(time.RFC3339Nano), p.LinkType, p.CaptureLength, p.Length, p.Data)
	}
	// Output:
	// 2024-05-06T07:08:09.123456Z RAW 4 84 [69 0 0 84]
	// 2024-05-06T07:08:09.123458Z RAW 2 2 [96 0]
}

// Read a capture file whatever its format: this one is pcapng despite
// its name.
func ExampleReader_Next() {
	f, err := os.Open("../testdata/pcaps/cs_dns_pcapng_named_pcap.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Format(), r.LinkType(), r.Snaplen())
	n, bytes := 0, 0
	for r.Next() {
		p := r.Packet()
		n++
		bytes += p.CaptureLength
	}
	if err := r.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "packets,", bytes, "bytes")
	// Output:
	// pcapng EN10MB 262144
	// 7 packets, 1106 bytes
}

// A capture cut short, as while it is still being written: the packets
// before the cut are read, then the error says where and wraps
// io.ErrUnexpectedEOF.
func ExampleFormatError() {
	in, err := os.ReadFile("../testdata/pcaps/tcpdump_dns_udp.pcap")
	if err != nil {
		log.Fatal(err)
	}
	r, err := pcapfile.NewReader(bytes.NewReader(in[:len(in)-10]))
	if err != nil {
		log.Fatal(err)
	}
	for {
		p, err := r.ReadPacket()
		if err == io.EOF {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			fmt.Println("truncated:", err)
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("packet of", p.Length, "bytes")
	}
	// Output:
	// packet of 98 bytes
	// truncated: pcapfile: offset 138: truncated packet record: 272 of 282 bytes: unexpected EOF
}
