package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// tsharkFollow is tshark -q -z follow,tcp,MODE,WHICH on file.
func tsharkFollow(t *testing.T, tshark, file, mode, which string) string {
	t.Helper()
	out, err := exec.Command(tshark, "-n", "-r", file, "-q", "-z", "follow,tcp,"+mode+","+which).Output()
	if err != nil {
		t.Fatalf("tshark follow: %v", err)
	}
	return string(out)
}

// withoutFilter drops the Filter line, the one line where ours differs
// (a tcpdump filter for tshark's display filter).
func withoutFilter(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "Filter: ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// rawDirs reads tshark's follow,tcp,raw: the hex blocks of node 0 and
// of node 1 (tab-indented), each direction's bytes joined.
func rawDirs(t *testing.T, s string) [2][]byte {
	t.Helper()
	var dirs [2][]byte
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "=") || strings.Contains(l, ":") {
			continue
		}
		d := 0
		if strings.HasPrefix(l, "\t") {
			d = 1
		}
		b, err := hex.DecodeString(strings.TrimPrefix(l, "\t"))
		if err != nil {
			t.Fatalf("tshark raw line %q: %v", l, err)
		}
		dirs[d] = append(dirs[d], b...)
	}
	return dirs
}

// asciiDirs reads our follow text back into each direction's bytes (as
// printed: dots for what is not graphic).
func asciiDirs(t *testing.T, s string) [2][]byte {
	t.Helper()
	var dirs [2][]byte
	rest := s
	for {
		i := strings.Index(rest, "\n")
		if i < 0 {
			return dirs
		}
		line := rest[:i]
		rest = rest[i+1:]
		d := 0
		if strings.HasPrefix(line, "\t") {
			d = 1
		}
		n, err := strconv.Atoi(strings.TrimPrefix(line, "\t"))
		if err != nil || len(rest) < n+1 {
			continue // the header and the rules
		}
		dirs[d] = append(dirs[d], rest[:n]...)
		rest = rest[n+1:]
	}
}

func dotted(b []byte) []byte {
	out := bytes.Clone(b)
	for i, c := range out {
		if c != '\n' && c != '\r' && (c < 0x20 || c >= 0x7f) {
			out[i] = '.'
		}
	}
	return out
}

// TestFlowsFollowReorderedAsTshark: a connection whose segments come
// shuffled, some twice, with every byte value in its payloads: ports
// flows --follow prints what tshark -z follow,tcp,ascii does (but the
// Filter line), and --format raw the bytes each side sent, in order.
func TestFlowsFollowReorderedAsTshark(t *testing.T) {
	tshark := porttestTool(t, "tshark")
	var all []byte
	for i := range 512 {
		all = append(all, byte(i*7))
	}
	toServer := append([]byte("HELLO\r\n\t"), all[:300]...)
	toClient := append([]byte("WORLD\n"), all[300:]...)
	frames := connFrames(t, 40001, 7000, toServer, toClient, 23)
	// Keep the handshake first and the FINs last; shuffle the data
	// segments of each direction among themselves and repeat a few.
	// (The server's segments acknowledge all the client's: they come
	// after them, or tshark takes the client's for lost.)
	data := frames[3 : len(frames)-3]
	nc := (len(toServer) + 22) / 23
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range [][][]byte{data[:nc], data[nc:]} {
		rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	}
	out := append([][]byte{}, frames[:3]...)
	for i, f := range data {
		out = append(out, f)
		if i%4 == 1 {
			out = append(out, f)
		}
	}
	out = append(out, frames[len(frames)-3:]...)
	file := writeTestCapture(t, "follow.pcap", pcapfile.LinkTypeEthernet, out...)

	want := tsharkFollow(t, tshark, file, "ascii", "0")
	code, got, stderr := run(t, "flows", "--follow", "1", file)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if withoutFilter(got) != withoutFilter(want) {
		t.Errorf("ours:\n%s\ntshark:\n%s", got, want)
	}
	dirs := asciiDirs(t, got)
	if !bytes.Equal(dirs[0], dotted(toServer)) || !bytes.Equal(dirs[1], dotted(toClient)) {
		t.Errorf("the blocks are not the payloads, in order:\n%q\n%q", dirs[0], dirs[1])
	}
	raw := rawDirs(t, tsharkFollow(t, tshark, file, "raw", "0"))
	if !bytes.Equal(raw[0], toServer) || !bytes.Equal(raw[1], toClient) {
		t.Fatalf("tshark's raw blocks are not the payloads")
	}
	code, gotRaw, _ := run(t, "flows", "--follow", "10.0.0.2:7000 10.0.0.1:40001", "--format", "raw", file)
	// Raw is the bytes in the order they came: the client's all came
	// before the server's here.
	if code != ExitOK || gotRaw != string(toServer)+string(toClient) {
		t.Errorf("--format raw: exit %d, %d bytes, want the %d of both directions", code, len(gotRaw), len(toServer)+len(toClient))
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"flows", "--follow", "2", file}, "--follow 2: the listing has 1 flow"},
		{[]string{"flows", "--follow", "0", file}, "numbered from 1"},
		{[]string{"flows", "--follow", "a b", file}, `want N, the flow's number in the listing, or two endpoints`},
		{[]string{"flows", "--follow", "10.0.0.9:1 10.0.0.2:7000", file}, "no TCP packet between 10.0.0.9:1 and 10.0.0.2:7000"},
		{[]string{"flows", "--follow", "1", "-"}, "give a FILE, not standard input"},
		{[]string{"flows", "--format", "raw", file}, "--format raw goes with --follow"},
		{[]string{"flows", "--follow", "1", "--format", "json", file}, "--follow prints tshark's text"},
	} {
		if code, _, stderr := run(t, tc.args...); code == ExitOK || !strings.Contains(stderr, tc.err) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, stderr, tc.err)
		}
	}
}

// TestIntegrationFlowsFollowAsTshark: curl fetches two pages from
// python3 -m http.server across a namespace pair, captured by tcpdump:
// for each connection, by its number and by its endpoints, ports flows
// --follow prints tshark's -z follow,tcp,ascii text (but the Filter
// line), and --format raw the bytes of tshark's raw blocks. A third
// connection, curl --http2-prior-knowledge, has HTTP/2's preface where
// tshark finds http2.magic.
func TestIntegrationFlowsFollowAsTshark(t *testing.T) {
	tcpdump := needTcpdump(t)
	tshark := porttest.LookTool(t, "tshark", "tshark")
	curl := porttest.LookTool(t, "curl", "curl")
	python := porttest.LookTool(t, "python3", "python3")
	p := porttest.NewPair(t, nil)
	b4 := p.B.Addr4.String()
	dir := t.TempDir()
	page := strings.Repeat("<p>hello, follow</p>\n", 4000) // 84 KB: many segments
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	p.B.Start(t, python, "-m", "http.server", "--bind", b4, "--directory", dir, "8000")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	porttest.WaitFor(t, "the HTTP server", func() bool {
		c, err := p.A.Dial(ctx, "tcp", net.JoinHostPort(b4, "8000"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	file := filepath.Join(dir, "http.pcap")
	capCmd := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "tcp port 8000")
	capLog := &porttest.LogBuffer{}
	capCmd.Stdout, capCmd.Stderr = capLog, capLog
	if err := capCmd.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })
	for _, u := range []string{"/index.html", "/missing"} {
		cmd := p.A.Command(ctx, curl, "-sS", "-o", "/dev/null", "--noproxy", "*", "--max-time", "15", "http://"+b4+":8000"+u)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
	}
	// HTTP/2 with prior knowledge: curl sends the preface, the
	// HTTP/1.0 server answers 400.
	cmd := p.A.Command(ctx, curl, "-sS", "-o", "/dev/null", "--noproxy", "*", "--max-time", "15", "--http2-prior-knowledge", "http://"+b4+":8000/")
	cmd.Run()
	capCmd.Process.Signal(syscall.SIGINT)
	capCmd.Wait()

	// The preface: on the packet where tshark finds it (told 8000 is
	// HTTP/2), and no other.
	out, err := exec.Command(tshark, "-n", "-r", file, "-d", "tcp.port==8000,http2", "-Y", "http2.magic", "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, _ := run(t, "decode", "--format", "jsonl", file)
	var h2 []string
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != nil && v.App.Protocol == "http2" {
			h2 = append(h2, strconv.Itoa(v.N))
		}
	}
	if want := strings.Fields(string(out)); code != ExitOK || len(want) != 1 || strings.Join(h2, ",") != want[0] {
		t.Errorf("HTTP/2 preface in packets %v; tshark's http2.magic in %v", h2, want)
	}
	if _, fl, _ := run(t, "flows", "--app", "http2", file); !strings.Contains(fl, " http2 ") && !strings.Contains(fl, " http2! ") {
		t.Errorf("flows --app http2:\n%s", fl)
	}

	code, list, stderr := run(t, "flows", file)
	if code != ExitOK || strings.Count(list, "\n") != 4 {
		t.Fatalf("flows: exit %d: %s%s", code, list, stderr)
	}
	for n := 1; n <= 2; n++ {
		want := tsharkFollow(t, tshark, file, "ascii", strconv.Itoa(n-1))
		code, got, stderr := run(t, "flows", "--follow", strconv.Itoa(n), file)
		if code != ExitOK {
			t.Fatalf("--follow %d: %s", n, stderr)
		}
		if withoutFilter(got) != withoutFilter(want) {
			t.Errorf("--follow %d:\nours:\n%.2000s\ntshark:\n%.2000s", n, got, want)
		}
		// By the endpoints, from the Node lines.
		var nodes []string
		for _, l := range strings.Split(got, "\n") {
			if s, ok := strings.CutPrefix(l, "Node "); ok {
				nodes = append(nodes, s[3:])
			}
		}
		if len(nodes) != 2 {
			t.Fatalf("nodes %v", nodes)
		}
		_, byEnds, _ := run(t, "flows", "--follow", nodes[1]+" "+nodes[0], file)
		if byEnds != got {
			t.Errorf("--follow %q differs from --follow %d", nodes[1]+" "+nodes[0], n)
		}
		raw := rawDirs(t, tsharkFollow(t, tshark, file, "raw", strconv.Itoa(n-1)))
		dirs := asciiDirs(t, got)
		if len(raw[0]) < 70 || len(raw[1]) < 200 || !bytes.Equal(dirs[0], dotted(raw[0])) || !bytes.Equal(dirs[1], dotted(raw[1])) {
			t.Errorf("--follow %d: %d and %d bytes; tshark's raw %d and %d", n, len(dirs[0]), len(dirs[1]), len(raw[0]), len(raw[1]))
		}
		_, gotRaw, _ := run(t, "flows", "--follow", strconv.Itoa(n), "--format", "raw", file)
		if len(gotRaw) != len(raw[0])+len(raw[1]) || !strings.HasPrefix(gotRaw, string(raw[0])) && !strings.Contains(gotRaw, string(raw[0])) {
			t.Errorf("--follow %d --format raw: %d bytes, want %d", n, len(gotRaw), len(raw[0])+len(raw[1]))
		}
		if n == 1 && !strings.Contains(gotRaw, page) {
			t.Errorf("--follow 1 --format raw lacks the page")
		}
	}
}

// FuzzFollow: segments of any numbers and payloads, either way, some
// SYNs: no panic; ascii blocks are their counts long and say no more
// bytes than came; the bytes held stay within the bound.
func FuzzFollow(f *testing.F) {
	f.Add([]byte("\x00\x01\x00\x00\x00\x05hello\x01\x00\x00\x00\x00\x03abc"), false)
	f.Add([]byte("\x00\x00\x00\x00\x10\x03abc\x00\x00\x00\x00\x00\x05hello\x02\xff\xff\xff\xff\x02zz"), true)
	f.Fuzz(func(t *testing.T, in []byte, raw bool) {
		var out bytes.Buffer
		a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
		fw := &follower{w: bufio.NewWriter(&out), raw: raw, node: [2]netip.AddrPort{a, b}}
		total := 0
		var p wire.Packet
		p.Layers = wire.LayerSet(0).Add(wire.LayerIPv4).Add(wire.LayerTCP)
		for len(in) >= 6 {
			flags, seq, n := in[0], binary.BigEndian.Uint32(in[1:5]), int(in[5])
			in = in[6:]
			n = min(n, len(in))
			p.Payload, in = in[:n], in[n:]
			total += n
			src, dst := a, b
			if flags&1 != 0 {
				src, dst = b, a
			}
			p.IP.Src, p.IP.Dst, p.TCP.SrcPort, p.TCP.DstPort = src.Addr(), dst.Addr(), ports.Port(src.Port()), ports.Port(dst.Port())
			p.IP.Version = 4
			p.TCP.Seq, p.TCP.Flags = seq, 0
			if flags&2 != 0 {
				p.TCP.Flags = wire.TCPSyn
			}
			fw.add(&p, 1)
			for _, d := range fw.dirs {
				if d.held > maxFollowPending {
					t.Fatalf("held %d", d.held)
				}
			}
		}
		if err := fw.finish(); err != nil {
			t.Fatal(err)
		}
		if raw && out.Len() > total {
			t.Fatalf("%d bytes out of %d in", out.Len(), total)
		}
		if !raw {
			dirs := asciiDirs(t, out.String())
			if len(dirs[0])+len(dirs[1]) > total {
				t.Fatalf("%d bytes in blocks of %d in", len(dirs[0])+len(dirs[1]), total)
			}
		}
	})
}
