package wire

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// tsharkFields are the fields compared with tshark's decoding.
var tsharkFields = []string{
	"frame.number",
	"eth.type", "vlan.id", "ieee8021ad.id", "sll.pkttype", "sll.ifindex", "null.family",
	"ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.flags", "ip.frag_offset", "ip.len", "ip.hdr_len", "ip.proto",
	"ip.checksum", "ip.checksum.status",
	"ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.hlim", "ipv6.flow", "ipv6.nxt",
	"ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
	"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value",
	"tcp.checksum", "tcp.checksum.status", "tcp.urgent_pointer", "tcp.hdr_len", "tcp.len",
	"tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm",
	"tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr", "tcp.options.sack_le", "tcp.options.sack_re",
	"udp.srcport", "udp.dstport", "udp.length", "udp.checksum", "udp.checksum.status",
	"icmp.type", "icmp.code", "icmp.checksum", "icmp.checksum.status",
	"icmpv6.type", "icmpv6.code", "icmpv6.checksum", "icmpv6.checksum.status",
}

// tsharkPrefs turn on checksum verification and turn off reassembly (so
// that each frame is decoded on its own, as Decode does).
var tsharkPrefs = []string{
	"-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
	"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
	"-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
}

// needTshark skips the test without tshark.
func needTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed: on Debian, apt-get install tshark (answer no to non-root capture, or use DEBIAN_FRONTEND=noninteractive)")
	}
	return path
}

// runTshark returns tshark's fields for each frame of a capture, each
// field with all its occurrences (outer header first).
func runTshark(t *testing.T, tshark, path string) [][][]string {
	t.Helper()
	args := []string{"-n", "-r", path}
	args = append(args, tsharkPrefs...)
	args = append(args, "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t")
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tshark, args...)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user preferences
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", path, err, stderr.Bytes())
	}
	var rows [][][]string
	for line := range strings.Lines(string(out)) {
		cols := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(cols) != len(tsharkFields) {
			t.Fatalf("tshark: %d fields, want %d: %q", len(cols), len(tsharkFields), line)
		}
		row := make([][]string, len(cols))
		for i, c := range cols {
			row[i] = strings.Split(c, ",")
		}
		rows = append(rows, row)
	}
	return rows
}

// skip marks a field not to compare.
const skip = "\x00skip"

// tsharkWant returns the tshark fields p should show: "" for a field
// tshark must not show, skip for one not compared. Quoted headers in
// ICMP errors are compared with the second occurrence of ip.src etc.
func tsharkWant(p *Packet) (outer map[string]string, quoted map[string]string) {
	w := map[string]string{}
	hex := func(v uint16) string { return fmt.Sprintf("0x%04x", v) }
	dec := func(v uint64) string { return strconv.FormatUint(v, 10) }
	status := func(c Checksum) string {
		switch c.Status {
		case ChecksumGood:
			return "1"
		case ChecksumBad:
			return "0"
		}
		return "2"
	}
	lk := &p.Link
	if p.Layers.Has(LayerEthernet) {
		first := lk.EtherType
		if lk.NumVLANs > 0 {
			first = lk.VLANs[0].TPID
		}
		w["eth.type"] = hex(uint16(first))
	}
	for _, v := range lk.VLANs[:lk.NumVLANs] {
		f := "vlan.id"
		if v.TPID == EtherTypeQinQ {
			f = "ieee8021ad.id"
		}
		if _, ok := w[f]; !ok {
			w[f] = dec(uint64(v.ID))
		}
	}
	if p.Layers.Has(LayerSLL) || p.Layers.Has(LayerSLL2) {
		w["sll.pkttype"] = dec(uint64(lk.PacketType))
	}
	if p.Layers.Has(LayerSLL2) {
		w["sll.ifindex"] = dec(uint64(lk.IfIndex))
	}
	if p.Layers.Has(LayerNull) {
		w["null.family"] = dec(uint64(lk.Family))
	}
	ip := &p.IP
	switch {
	case p.Layers.Has(LayerIPv4):
		w["ip.src"], w["ip.dst"] = ip.Src.String(), ip.Dst.String()
		w["ip.ttl"], w["ip.id"] = dec(uint64(ip.TTL)), hex(uint16(ip.ID))
		w["ip.flags"], w["ip.frag_offset"] = fmt.Sprintf("0x%02x", uint8(ip.Flags)), dec(uint64(ip.FragOffset/8))
		w["ip.len"], w["ip.hdr_len"], w["ip.proto"] = dec(uint64(ip.TotalLen)), dec(uint64(ip.IHL)*4), dec(uint64(ip.Protocol))
		w["ip.checksum"], w["ip.checksum.status"] = hex(ip.Checksum.Value), status(ip.Checksum)
	case p.Layers.Has(LayerIPv6):
		w["ipv6.src"], w["ipv6.dst"] = ip.Src.String(), ip.Dst.String()
		w["ipv6.plen"], w["ipv6.hlim"] = dec(uint64(ip.PayloadLen)), dec(uint64(ip.TTL))
		w["ipv6.flow"] = fmt.Sprintf("0x%06x", ip.FlowLabel)
		nh := uint64(ip.Protocol)
		if ip.NumExt > 0 {
			nh = uint64(ip.Ext[0])
		}
		w["ipv6.nxt"] = dec(nh)
		for _, e := range ip.Ext[:ip.NumExt] {
			if e == ExtFragment {
				w["ipv6.fraghdr.offset"] = dec(uint64(ip.FragOffset / 8))
				w["ipv6.fraghdr.more"] = map[bool]string{false: "0", true: "1"}[ip.Flags&IPMoreFragments != 0]
				w["ipv6.fraghdr.ident"] = fmt.Sprintf("0x%08x", ip.ID)
			}
		}
	}
	if p.Layers.Has(LayerTCP) {
		t := &p.TCP
		w["tcp.srcport"], w["tcp.dstport"] = dec(uint64(t.SrcPort)), dec(uint64(t.DstPort))
		w["tcp.seq_raw"], w["tcp.ack_raw"] = dec(uint64(t.Seq)), dec(uint64(t.Ack))
		w["tcp.flags"], w["tcp.window_size_value"] = hex(uint16(t.Flags)), dec(uint64(t.Window))
		w["tcp.checksum"], w["tcp.checksum.status"] = hex(t.Checksum.Value), status(t.Checksum)
		w["tcp.urgent_pointer"], w["tcp.hdr_len"], w["tcp.len"] = dec(uint64(t.Urgent)), dec(uint64(t.HeaderLen())), dec(uint64(p.PayloadLen))
		o := &t.Options
		if o.HasMSS {
			w["tcp.options.mss_val"] = dec(uint64(o.MSS))
		}
		if o.HasWScale {
			w["tcp.options.wscale.shift"] = dec(uint64(o.WScale))
		}
		if o.SACKPermitted {
			w["tcp.options.sack_perm"] = skip // present; its value is the option's bytes
		}
		if o.HasTimestamps {
			w["tcp.options.timestamp.tsval"], w["tcp.options.timestamp.tsecr"] = dec(uint64(o.TSval)), dec(uint64(o.TSecr))
		}
		var le, re []string
		for _, s := range o.SACK[:o.NumSACK] {
			le, re = append(le, dec(uint64(s.Left))), append(re, dec(uint64(s.Right)))
		}
		if len(le) > 0 {
			w["tcp.options.sack_le"], w["tcp.options.sack_re"] = strings.Join(le, ","), strings.Join(re, ",")
		}
	}
	if p.Layers.Has(LayerUDP) {
		u := &p.UDP
		w["udp.srcport"], w["udp.dstport"], w["udp.length"] = dec(uint64(u.SrcPort)), dec(uint64(u.DstPort)), dec(uint64(u.Length))
		w["udp.checksum"], w["udp.checksum.status"] = hex(u.Checksum.Value), status(u.Checksum)
	}
	// tshark shows what it can of a header cut short, and the values of
	// an option or VLAN tag cut short; Decode shows a header only when
	// its fixed part was captured, and options and tags only whole.
	cutHeader := p.Truncated && !p.Layers.Has(p.TruncatedAt)
	cutOptions := p.TruncatedAt == LayerTCP && len(p.TCP.Options.Raw)+20 < p.TCP.HeaderLen() ||
		p.TruncatedAt == LayerIPv4 && len(p.IP.Options)+20 < int(p.IP.HeaderLen)
	for _, f := range tsharkFields {
		l := layerOfField(f)
		if l == LayerSLL && p.TruncatedAt == LayerSLL2 {
			l = LayerSLL2
		}
		switch {
		case cutHeader && l == p.TruncatedAt,
			cutOptions && l == LayerTCP && strings.HasPrefix(f, "tcp.options."),
			cutOptions && l == LayerIPv4, // tshark then leaves out ip.dst
			p.TruncatedAt == LayerEthernet && (f == "vlan.id" || f == "ieee8021ad.id"):
			w[f] = skip
		}
	}
	var q *Quoted
	if p.Layers.Has(LayerICMPv4) {
		m := &p.ICMPv4
		w["icmp.type"], w["icmp.code"] = dec(uint64(m.Type)), dec(uint64(m.Code))
		w["icmp.checksum"], w["icmp.checksum.status"] = hex(m.Checksum.Value), status(m.Checksum)
		if m.Type.IsError() {
			q = &m.Quoted
		}
	}
	if p.Layers.Has(LayerICMPv6) {
		m := &p.ICMPv6
		w["icmpv6.type"], w["icmpv6.code"] = dec(uint64(m.Type)), dec(uint64(m.Code))
		w["icmpv6.checksum"], w["icmpv6.checksum.status"] = hex(m.Checksum.Value), status(m.Checksum)
		if m.Type.IsError() {
			q = &m.Quoted
		}
	}
	if q == nil {
		return w, nil
	}
	// The quote: its addresses are the second occurrence of the IP
	// fields; its ports the first of the transport fields, which tshark
	// decodes from the quote's 8 bytes (the rest is not compared).
	qw := map[string]string{}
	for _, f := range tsharkFields {
		if strings.HasPrefix(f, "tcp.") || strings.HasPrefix(f, "udp.") {
			w[f] = skip
		}
	}
	if q.IP.Version == 0 {
		return w, nil // tshark shows what there is of a quote too short for Decode
	}
	pre := "ip."
	if q.IP.Version == 6 {
		pre = "ipv6."
	}
	qw[pre+"src"], qw[pre+"dst"] = q.IP.Src.String(), q.IP.Dst.String()
	if q.HasPorts {
		tp := map[ports.Proto]string{ports.ProtoTCP: "tcp.", ports.ProtoUDP: "udp."}[q.IP.Protocol]
		if tp != "" {
			w[tp+"srcport"], w[tp+"dstport"] = dec(uint64(q.SrcPort)), dec(uint64(q.DstPort))
		}
		// tshark shows the sequence number of a quoted TCP header only
		// when it has all 20 bytes.
		if q.HasSeq && len(p.Payload)-int(q.IP.HeaderLen) >= 20 {
			w["tcp.seq_raw"] = dec(uint64(q.Seq))
		}
	}
	return w, qw
}

// layerOfField returns the layer a tshark field belongs to.
func layerOfField(f string) Layer {
	pre, _, _ := strings.Cut(f, ".")
	switch pre {
	case "eth", "vlan", "ieee8021ad":
		return LayerEthernet
	case "sll":
		return LayerSLL
	case "null":
		return LayerNull
	case "ip":
		return LayerIPv4
	case "ipv6":
		return LayerIPv6
	case "tcp":
		return LayerTCP
	case "udp":
		return LayerUDP
	case "icmp":
		return LayerICMPv4
	case "icmpv6":
		return LayerICMPv6
	}
	return LayerNone
}

// compareTshark checks one decoded frame against tshark's fields.
func compareTshark(t *testing.T, name string, p *Packet, row [][]string) {
	t.Helper()
	want, quoted := tsharkWant(p)
	for i, f := range tsharkFields {
		if f == "frame.number" {
			continue
		}
		got := row[i]
		w, ok := want[f]
		if w == skip {
			continue
		}
		first := got[0]
		if !ok {
			w = ""
		}
		if f == "tcp.options.sack_le" || f == "tcp.options.sack_re" {
			first = strings.Join(got, ",")
		}
		if first != w {
			t.Errorf("%s: %s = %q, tshark shows %q", name, f, w, first)
		}
		if qv, ok := quoted[f]; ok {
			if len(got) < 2 || got[1] != qv {
				t.Errorf("%s: quoted %s = %q, tshark shows %q", name, f, qv, got)
			}
		}
	}
}

// TestTsharkCaptures compares Decode with tshark, field by field, on
// every packet of the sample captures.
func TestTsharkCaptures(t *testing.T) {
	tshark := needTshark(t)
	for _, path := range captureFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel() // tshark takes a second to start
			fs := readCapture(t, path)
			if len(fs) == 0 {
				return
			}
			rows := runTshark(t, tshark, path)
			if len(rows) != len(fs) {
				t.Fatalf("tshark shows %d frames, want %d", len(rows), len(fs))
			}
			var p Packet
			for i, f := range fs {
				_ = p.Decode(f.link, f.data, f.origLen)
				compareTshark(t, fmt.Sprintf("#%d", f.n), &p, rows[i])
			}
		})
	}
}

// TestTsharkSamples compares Decode with tshark on the frames the tests
// build: every link type, extension headers, fragments, ICMP errors.
func TestTsharkSamples(t *testing.T) {
	tshark := needTshark(t)
	byLink := map[pcapfile.LinkType][]sampleFrame{}
	for _, f := range sampleFrames(t) {
		byLink[f.link] = append(byLink[f.link], f)
	}
	dir := t.TempDir()
	for link, fs := range byLink {
		t.Run(link.String(), func(t *testing.T) {
			t.Parallel()
			tsharkSamples(t, tshark, filepath.Join(dir, link.String()+".pcap"), link, fs)
		})
	}
}

// TestTsharkTruncated compares Decode with tshark on the sample frames
// cut short, as a capture with a small snapshot length holds them.
func TestTsharkTruncated(t *testing.T) {
	tshark := needTshark(t)
	byLink := map[pcapfile.LinkType][]sampleFrame{}
	for _, f := range sampleFrames(t) {
		for n := 1; n < len(f.data); n += 5 {
			c := f
			c.name = fmt.Sprintf("%s cut at %d", f.name, n)
			c.data = f.data[:n:n]
			c.wireLen = len(f.data)
			byLink[f.link] = append(byLink[f.link], c)
		}
	}
	dir := t.TempDir()
	for link, fs := range byLink {
		t.Run(link.String(), func(t *testing.T) {
			t.Parallel()
			tsharkSamples(t, tshark, filepath.Join(dir, link.String()+".pcap"), link, fs)
		})
	}
}

func tsharkSamples(t *testing.T, tshark, path string, link pcapfile.LinkType, fs []sampleFrame) {
	{
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, layers.LinkType(link)); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(f.data), Length: max(f.wireLen, len(f.data))}
			if err := w.WritePacket(ci, f.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		rows := runTshark(t, tshark, path)
		if len(rows) != len(fs) {
			t.Fatalf("%s: tshark shows %d frames, want %d", link, len(rows), len(fs))
		}
		var p Packet
		for i, f := range fs {
			if err := p.Decode(f.link, f.data, f.wireLen); err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
			compareTshark(t, f.name, &p, rows[i])
		}
	}
}
