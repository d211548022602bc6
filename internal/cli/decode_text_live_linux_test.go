package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// ftpServer is a small FTP server (RFC 959, 2428) for curl to talk to:
// USER, PASS, PWD, CWD, TYPE, SIZE, EPSV, PASV, EPRT, PORT, LIST, RETR,
// QUIT; the data connection is the server's listener in passive mode,
// its dial to the client in active mode. Debian has no FTP server that
// runs unconfigured without a system service (vsftpd, proftpd), and
// pyftpdlib is not packaged for python3 here.
func ftpServer(t *testing.T, h *porttest.Host, addr string) {
	l, err := h.Listen("tcp", net.JoinHostPort(addr, "21"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	files := map[string]string{"/pub/hello.txt": "hello over ftp\n"}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveFTP(h, c, addr, files)
		}
	}()
}

func serveFTP(h *porttest.Host, c net.Conn, addr string, files map[string]string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 (portsFTP test) ready")
	var pasv net.Listener
	var active string
	cwd := "/"
	data := func() (net.Conn, error) {
		if active != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return h.Dial(ctx, "tcp", active)
		}
		if pasv == nil {
			return nil, fmt.Errorf("no data connection")
		}
		defer func() { pasv.Close(); pasv = nil }()
		return pasv.Accept()
	}
	listen := func() (int, bool) {
		if pasv != nil {
			pasv.Close()
		}
		active = ""
		var err error
		if pasv, err = h.Listen("tcp", net.JoinHostPort(addr, "0")); err != nil {
			return 0, false
		}
		return pasv.Addr().(*net.TCPAddr).Port, true
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "USER":
			say("331 Please specify the password.")
		case "PASS":
			say("230 Login successful.")
		case "PWD":
			say(`257 "` + cwd + `" is the current directory`)
		case "CWD":
			cwd = "/" + strings.Trim(arg, "/")
			say("250 Directory successfully changed.")
		case "TYPE":
			say("200 Switching to " + arg + " mode.")
		case "SIZE":
			if f, ok := files[filepath.Join(cwd, arg)]; ok {
				say("213 " + strconv.Itoa(len(f)))
			} else {
				say("550 Could not get file size.")
			}
		case "EPSV":
			if port, ok := listen(); ok {
				say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", port))
			}
		case "PASV":
			if port, ok := listen(); ok {
				say(fmt.Sprintf("227 Entering Passive Mode (%s,%d,%d).", strings.ReplaceAll(addr, ".", ","), port>>8, port&255))
			}
		case "EPRT":
			f := strings.Split(arg, arg[:1])
			active = net.JoinHostPort(f[2], f[3])
			say("200 EPRT command successful. Consider using EPSV.")
		case "PORT":
			f := strings.Split(arg, ",")
			hi, _ := strconv.Atoi(f[4])
			lo, _ := strconv.Atoi(f[5])
			active = net.JoinHostPort(strings.Join(f[:4], "."), strconv.Itoa(hi<<8|lo))
			say("200 PORT command successful. Consider using PASV.")
		case "LIST", "RETR":
			body := "-rw-r--r--    1 0        0              15 Dec 04 20:00 hello.txt\r\n"
			if strings.ToUpper(cmd) == "RETR" {
				var ok bool
				if body, ok = files[filepath.Join(cwd, arg)]; !ok {
					say("550 Failed to open file.")
					continue
				}
			}
			say("150 Here comes the data.")
			dc, err := data()
			if err != nil {
				say("425 Use PORT or PASV first.")
				continue
			}
			dc.Write([]byte(body))
			dc.Close()
			say("226 Transfer complete.")
		case "QUIT":
			say("221 Goodbye.")
			return
		default:
			say("502 Command not implemented.")
		}
	}
}

// TestIntegrationTextProtosAsTshark: curl as FTP client to the test's
// FTP server on port 21 (EPSV, PASV with --disable-epsv, EPRT and PORT
// with -P) and as SMTP client to python3's smtpd on 25 and 8025, across
// a namespace pair, captured by tcpdump. Every line of ports decode is
// tcpdump's (FTP and SMTP on 21 and 25; on 8025 tcpdump's line is a
// prefix of ours); for every packet tshark decodes as FTP or SMTP
// (told 8025 is SMTP), the app object of the same packet has its
// ftp.request.command and .arg, ftp.response.code, the data ports
// (ftp.passive.port, ftp.epsv.port, ftp.eprt.port, ftp.active.port),
// smtp.req.command and smtp.response.code; ports flows marks the four
// data connections ftp-data and SMTP on 8025 as a mismatch.
func TestIntegrationTextProtosAsTshark(t *testing.T) {
	tcpdump := needTcpdump(t)
	tshark := porttest.LookTool(t, "tshark", "tshark")
	curl := porttest.LookTool(t, "curl", "curl")
	python := porttest.LookTool(t, "python3", "python3")
	p := porttest.NewPair(t, nil)
	a4, b4 := p.A.Addr4.String(), p.B.Addr4.String()
	ftpServer(t, p.B, b4)
	for _, port := range []string{"25", "8025"} {
		p.B.Start(t, python, "-W", "ignore", "-m", "smtpd", "-n", "-c", "DebuggingServer", b4+":"+port)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	porttest.WaitFor(t, "the FTP and SMTP servers", func() bool {
		for _, port := range []string{"21", "25", "8025"} {
			c, err := p.A.Dial(ctx, "tcp", net.JoinHostPort(b4, port))
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "text.pcap")
	capCmd := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "tcp")
	capLog := &porttest.LogBuffer{}
	capCmd.Stdout, capCmd.Stderr = capLog, capLog
	if err := capCmd.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })
	mail := filepath.Join(dir, "mail.txt")
	os.WriteFile(mail, []byte("From: a@a.test\r\nTo: b@b.test\r\nSubject: test\r\n\r\nhello\r\n"), 0o644)
	runCurl := func(args ...string) string {
		t.Helper()
		cmd := p.A.Command(ctx, curl, append([]string{"-sS", "--max-time", "20"}, args...)...)
		cmd.Env = append(os.Environ(), "ALL_PROXY=", "all_proxy=", "ftp_proxy=", "FTP_PROXY=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := runCurl("ftp://" + b4 + "/"); !strings.Contains(out, "hello.txt") {
		t.Errorf("curl's LIST: %q", out)
	}
	if out := runCurl("--disable-epsv", "ftp://"+b4+"/pub/hello.txt"); out != "hello over ftp\n" {
		t.Errorf("curl's RETR: %q", out)
	}
	runCurl("-P", a4, "ftp://"+b4+"/")
	runCurl("-P", a4, "--disable-eprt", "ftp://"+b4+"/")
	for _, port := range []string{"25", "8025"} {
		runCurl("smtp://"+b4+":"+port, "--mail-from", "a@a.test", "--mail-rcpt", "b@b.test", "-T", mail)
	}
	capCmd.Process.Signal(syscall.SIGINT)
	capCmd.Wait()

	// The one-line view.
	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	diffLines(t, file, got, want)
	all := portServiceRE.ReplaceAllString(strings.Join(got, "\n"), "$1")
	for _, s := range []string{"FTP: 220 (portsFTP test) ready", "FTP: EPSV", "FTP: 227 Entering Passive Mode", "FTP: EPRT |1|" + a4 + "|",
		"FTP: PORT " + strings.ReplaceAll(a4, ".", ","), "SMTP: EHLO ", "SMTP: 354 ", ".8025: Flags [P.]"} {
		if !strings.Contains(all, s) {
			t.Errorf("decode lacks %q: the exchange was not as planned:\n%s", s, all)
		}
	}

	// The app objects against tshark's fields.
	fields := []string{"frame.number", "ftp.request.command", "ftp.request.arg", "ftp.response.code", "ftp.passive.port", "ftp.epsv.port",
		"ftp.eprt.port", "ftp.active.port", "smtp.req.command", "smtp.response.code"}
	targs := []string{"-n", "-r", file, "-d", "tcp.port==8025,smtp", "-Y", "ftp || smtp.req || smtp.response", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, f := range fields {
		targs = append(targs, "-e", f)
	}
	out, err := p.A.Command(ctx, tshark, targs...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, stderr := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("decode: %s", stderr)
	}
	apps := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != nil {
			apps[v.N] = v.App
		}
	}
	compared := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		n, _ := strconv.Atoi(f[0])
		a := apps[n]
		if a == nil {
			t.Errorf("packet %d: no app object; tshark %s", n, l)
			continue
		}
		delete(apps, n)
		g := make([]string, len(fields))
		g[0] = f[0]
		num := func(v int) string {
			if v == 0 {
				return ""
			}
			return strconv.Itoa(v)
		}
		switch a.Protocol {
		case "ftp":
			g[1], g[2], g[3] = a.Command, a.Arg, num(a.Code)
			if a.Code != 0 {
				g[2] = ""
			}
			port := num(int(a.DataPort))
			switch {
			case a.Code == 227:
				g[4] = port
			case a.Code == 229:
				g[5] = port
			case a.Command == "EPRT":
				g[6] = port
			case a.Command == "PORT":
				g[7] = port
			}
			compared["ftp"]++
		case "smtp":
			if a.Code == 0 {
				// Only commands: a mail's lines are data to tshark.
				g[8] = strings.ToUpper(a.Command)
			}
			g[9] = num(a.Code)
			compared["smtp"]++
		}
		if gs := strings.Join(g, "\t"); gs != l {
			t.Errorf("packet %d (%s):\n ours   %s\n tshark %s", n, a.Line, gs, l)
		}
	}
	for n, a := range apps {
		if a.Protocol == "ftp" || a.Protocol == "smtp" && a.Command != "" {
			t.Errorf("packet %d: ports finds %s %q, tshark nothing", n, a.Protocol, a.Line)
		}
	}
	t.Logf("compared with tshark: %v packets", compared)
	if compared["ftp"] < 40 || compared["smtp"] < 14 {
		t.Errorf("compared %v", compared)
	}

	// The flows: four data connections, SMTP on 8025 marked.
	code, js, stderr = run(t, "flows", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("flows: %s", stderr)
	}
	apps2 := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.FlowV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		s, _ := netip.ParseAddrPort(v.Server)
		key := v.App
		if v.AppMismatch {
			key += "!"
		}
		if s.Port() == 8025 || s.Port() == 25 || s.Port() == 21 {
			key += ":" + strconv.Itoa(int(s.Port()))
		}
		apps2[key]++
	}
	wantFlows := map[string]int{"ftp:21": 4, "ftp-data": 4, "smtp:25": 1, "smtp!:8025": 1}
	for k, n := range wantFlows {
		if apps2[k] != n {
			t.Errorf("flows: %d %s, want %d (all: %v)", apps2[k], k, n, apps2)
		}
	}
}

// mailServer serves POP3 (RFC 1939) or IMAP (RFC 3501) on addr:port,
// just enough for curl to log in and fetch one message; Debian's
// Dovecot and Courier run only as system services.
func mailServer(t *testing.T, h *porttest.Host, addr, port string, imap bool) {
	l, err := h.Listen("tcp", net.JoinHostPort(addr, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	msg := "From: a@a.test\r\nSubject: hi\r\n\r\nhello\r\n"
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
				if imap {
					say("* OK [CAPABILITY IMAP4rev1] test ready")
				} else {
					say("+OK POP3 test ready")
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) == 0 {
						continue
					}
					if !imap {
						switch strings.ToUpper(f[0]) {
						case "CAPA":
							say("+OK Capability list follows\r\nUSER\r\nUIDL\r\n.")
						case "USER", "PASS":
							say("+OK")
						case "STAT":
							say(fmt.Sprintf("+OK 1 %d", len(msg)))
						case "LIST":
							say(fmt.Sprintf("+OK 1 messages\r\n1 %d\r\n.", len(msg)))
						case "RETR":
							say(fmt.Sprintf("+OK %d octets\r\n%s.", len(msg), msg))
						case "QUIT":
							say("+OK bye")
							return
						default:
							say("-ERR unknown command")
						}
						continue
					}
					tag, cmd := f[0], ""
					if len(f) > 1 {
						cmd = strings.ToUpper(f[1])
					}
					if cmd == "UID" && len(f) > 2 {
						cmd = strings.ToUpper(f[2])
					}
					switch cmd {
					case "CAPABILITY":
						say("* CAPABILITY IMAP4rev1\r\n" + tag + " OK CAPABILITY completed")
					case "LOGIN":
						say(tag + " OK LOGIN completed")
					case "SELECT", "EXAMINE":
						say("* 1 EXISTS\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n" + tag + " OK [READ-WRITE] SELECT completed")
					case "FETCH":
						say(fmt.Sprintf("* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n%s OK FETCH completed", len(msg), msg, tag))
					case "LOGOUT":
						say("* BYE logging out\r\n" + tag + " OK LOGOUT completed")
						return
					default:
						say(tag + " BAD unknown command")
					}
				}
			}()
		}
	}()
}

// TestIntegrationMailProtosAsTshark: curl fetches a message by POP3
// (port 110 and 1110) and IMAP (143 and 1143) from the test's servers
// across a namespace pair, captured by tcpdump. tcpdump prints no
// payload there, so its lines are prefixes of ours, which add the
// summary; for every packet tshark finds a POP3 or IMAP request or
// response in (told 1110 and 1143 are theirs), the app object of the
// same packet has its pop.request.command and .parameter,
// pop.response.indicator, imap.request_tag and .command, and, where the
// segment's first line is a tagged reply, imap.response_tag and
// .status (tshark gives a segment's tagged line, ports its first);
// flows names the four connections, marking those on 1110 and 1143
// (IANA's webadmstart and imyx).
func TestIntegrationMailProtosAsTshark(t *testing.T) {
	tcpdump := needTcpdump(t)
	tshark := porttest.LookTool(t, "tshark", "tshark")
	curl := porttest.LookTool(t, "curl", "curl")
	p := porttest.NewPair(t, nil)
	b4 := p.B.Addr4.String()
	for _, port := range []string{"110", "1110"} {
		mailServer(t, p.B, b4, port, false)
	}
	for _, port := range []string{"143", "1143"} {
		mailServer(t, p.B, b4, port, true)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	file := filepath.Join(dir, "mail.pcap")
	capCmd := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "tcp")
	capLog := &porttest.LogBuffer{}
	capCmd.Stdout, capCmd.Stderr = capLog, capLog
	if err := capCmd.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })
	for _, u := range []string{"pop3://" + b4 + "/1", "pop3://" + b4 + ":1110/1", "imap://" + b4 + "/INBOX;UID=1", "imap://" + b4 + ":1143/INBOX;UID=1"} {
		cmd := p.A.Command(ctx, curl, "-sS", "--max-time", "20", "-u", "user:secret", u)
		cmd.Env = append(os.Environ(), "ALL_PROXY=", "all_proxy=")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello") {
			t.Fatalf("curl %s: %v: %q", u, err, out)
		}
	}
	capCmd.Process.Signal(syscall.SIGINT)
	capCmd.Wait()

	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	diffLines(t, file, got, want)
	all := strings.Join(got, "\n")
	for _, s := range []string{": POP3: +OK POP3 test ready", ": POP3: RETR 1", ": IMAP: * OK [CAPABILITY", ": IMAP: A002 LOGIN user secret"} {
		if !strings.Contains(all, s) {
			t.Errorf("decode lacks %q:\n%s", s, all)
		}
	}

	fields := []string{"frame.number", "pop.request.command", "pop.request.parameter", "pop.response.indicator",
		"imap.request_tag", "imap.request.command", "imap.response_tag", "imap.response.status"}
	targs := []string{"-n", "-r", file, "-d", "tcp.port==1110,pop", "-d", "tcp.port==1143,imap", "-Y", "pop.request || pop.response.indicator || imap.request || imap.response",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, f := range fields {
		targs = append(targs, "-e", f)
	}
	out, err := p.A.Command(ctx, tshark, targs...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, stderr := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("decode: %s", stderr)
	}
	apps := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != nil {
			apps[v.N] = v.App
		}
	}
	compared := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		n, _ := strconv.Atoi(f[0])
		a := apps[n]
		if a == nil {
			t.Errorf("packet %d: no app object; tshark %s", n, l)
			continue
		}
		g := make([]string, len(fields))
		g[0] = f[0]
		switch a.Protocol {
		case "pop3":
			if a.Response {
				g[3] = a.Reply
			} else {
				g[1], g[2] = a.Command, a.Arg
			}
		case "imap":
			switch {
			case !a.Response:
				g[4], g[5] = a.Tag, a.Command
			case a.Tag == "*":
				// tshark gives a segment's tagged line (its last): ports
				// the first, untagged ("* 1 EXISTS"); not compared.
				g[6], g[7] = f[6], f[7]
			default:
				g[6], g[7] = a.Tag, a.Reply
			}
		}
		compared[a.Protocol]++
		if gs := strings.Join(g, "\t"); gs != l {
			t.Errorf("packet %d (%s %q):\n ours   %q\n tshark %q", n, a.Protocol, a.Line, gs, l)
		}
	}
	t.Logf("compared with tshark: %v packets", compared)
	if compared["pop3"] < 16 || compared["imap"] < 16 {
		t.Errorf("compared %v", compared)
	}
	code, js, _ = run(t, "flows", "--format", "jsonl", file)
	var flows []string
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.FlowV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		s, _ := netip.ParseAddrPort(v.Server)
		flows = append(flows, fmt.Sprintf("%d %s %v", s.Port(), v.App, v.AppMismatch))
	}
	if code != ExitOK || strings.Join(flows, ",") != "110 pop3 false,1110 pop3 true,143 imap false,1143 imap true" {
		t.Errorf("flows: %v", flows)
	}
}
