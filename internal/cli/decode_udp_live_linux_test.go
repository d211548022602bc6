package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationDecodeUDPLive: real programs across a namespace pair
// (no default route) speak the UDP protocols tcpdump decodes by default:
// Net-SNMP's snmpget, snmpwalk, snmpbulkget, snmpset and snmptrap (v1,
// v2c, v3) to snmpd; chronyd -Q to a chronyd serving time (neither
// sets the clock); tftp-hpa's client to in.tftpd (a file of three
// blocks, a missing one, an upload); busybox udhcpc to dnsmasq's DHCP
// server (the client configures nothing); logger to a syslog port; bird
// speaking RIP v2 on both ends.
// tcpdump captures it; every line of ports decode is tcpdump's.
func TestIntegrationDecodeUDPLive(t *testing.T) {
	tcpdump := needTcpdump(t)
	snmpd := porttest.LookTool(t, "snmpd", "snmpd")
	snmpget := porttest.LookTool(t, "snmpget", "snmp")
	chronyd := porttest.LookTool(t, "chronyd", "chrony")
	tftpd := porttest.LookTool(t, "in.tftpd", "tftpd-hpa")
	tftp := porttest.LookTool(t, "tftp", "tftp-hpa")
	busybox := porttest.LookTool(t, "busybox", "busybox")
	dnsmasq := porttest.LookTool(t, "dnsmasq", "dnsmasq-base")
	logger := porttest.LookTool(t, "logger", "bsdutils")
	bird := porttest.LookTool(t, "bird", "bird2")
	snmpDir := filepath.Dir(snmpget)
	p := porttest.NewPair(t, nil)
	a4, b4 := p.A.Addr4.String(), p.B.Addr4.String()
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}

	snmpConf := write("snmpd.conf", "rocommunity public default\nrwcommunity secret default\nsysLocation lab\nsysContact nobody\n")
	snmpLog := p.B.Start(t, snmpd, "-f", "-Lo", "-C", "-c", snmpConf, "-M", "/dev/null", "-I", "-all", "-p", filepath.Join(dir, "snmpd.pid"), "udp:"+b4+":161")
	ntpConf := write("chrony.conf", "allow\nlocal stratum 8\nport 123\nbindaddress "+b4+"\ncmdport 0\nbindcmdaddress /\npidfile "+filepath.Join(dir, "chronyd.pid")+"\n")
	ntpLog := p.B.Start(t, chronyd, "-d", "-x", "-u", "root", "-f", ntpConf)
	tftpRoot := filepath.Join(dir, "tftp")
	if err := os.Mkdir(tftpRoot, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tftpRoot, "three-blocks.txt"), []byte(strings.Repeat("tftp over a veth\n", 70)), 0o644); err != nil {
		t.Fatal(err)
	}
	tftpLog := p.B.Start(t, tftpd, "-L", "-v", "-c", "-u", "root", "-a", b4+":69", "-s", tftpRoot)
	dhcpLog := p.B.Start(t, dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
		"--interface="+p.B.Link, "--dhcp-range="+a4+","+a4+",255.255.255.252,5m", "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--no-ping", "--pid-file=", "--user=root", "--log-dhcp", "--log-facility=-")
	syslog, err := p.B.ListenPacket("udp", net.JoinHostPort(b4, "514"))
	if err != nil {
		t.Fatal(err)
	}
	defer syslog.Close()
	porttest.WaitFor(t, "snmpd, chronyd, in.tftpd and dnsmasq to listen", func() bool {
		out, err := p.B.Command(t.Context(), "ss", "-uanH").Output()
		s := string(out)
		return err == nil && strings.Contains(s, b4+":161 ") && strings.Contains(s, b4+":123 ") && strings.Contains(s, b4+":69 ") &&
			strings.Contains(s, ":67 ")
	})

	file := filepath.Join(dir, "live.pcap")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cap := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "udp")
	capLog := &porttest.LogBuffer{}
	cap.Stdout, cap.Stderr = capLog, capLog
	if err := cap.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })

	// run runs a client in A; some exit non-zero by design (an SNMP
	// error status, a missing file, a trap nobody takes), so only a
	// program that could not start fails the test.
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := p.A.Command(ctx, name, args...).CombinedOutput()
		if _, exited := err.(interface{ ExitCode() int }); err != nil && !exited {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return string(out)
	}
	snmp := func(tool string, args ...string) string {
		return run(filepath.Join(snmpDir, tool), append([]string{"-M", "/dev/null", "-r", "1", "-t", "3"}, args...)...)
	}
	agent := b4 + ":161"
	snmp("snmpget", "-v2c", "-c", "public", agent, "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.2.0")
	snmp("snmpget", "-v1", "-c", "public", agent, "1.3.6.1.2.1.1.5.0", "1.3.6.1.9.9")
	snmp("snmpwalk", "-v2c", "-c", "public", agent, "1.3.6.1.2.1.1")
	snmp("snmpbulkget", "-v2c", "-c", "public", "-Cn0", "-Cr8", agent, "1.3.6.1.2.1.2.2.1")
	snmp("snmpset", "-v2c", "-c", "public", agent, "1.3.6.1.2.1.1.6.0", "s", "elsewhere")
	snmp("snmpset", "-v1", "-c", "secret", agent, "1.3.6.1.2.1.1.4.0", "s", "root@a.test")
	snmp("snmpget", "-v3", "-u", "nobody", "-l", "noAuthNoPriv", agent, "1.3.6.1.2.1.1.1.0")
	snmp("snmptrap", "-v1", "-c", "public", b4+":162", "1.3.6.1.4.1.8072.2.3", a4, "6", "17", "", "1.3.6.1.2.1.1.5.0", "s", "a-host")
	snmp("snmptrap", "-v2c", "-c", "public", b4+":162", "", "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.2.1.1.5.0", "s", "a-host")
	ntp := run(chronyd, "-Q", "-t", "20", "-u", "root", "server "+b4+" iburst maxsamples 3", "cmdport 0", "bindcmdaddress /",
		"pidfile "+filepath.Join(dir, "chronyd-q.pid"))
	// The transfers go between ports the server and client pick; the
	// client's port 69 (-R) has tcpdump print the data and errors too.
	run(tftp, "-R", "69:69", "-m", "octet", b4, "-c", "get", "three-blocks.txt", filepath.Join(dir, "got.txt"))
	run(tftp, "-R", "69:69", b4, "-c", "get", "missing.txt", filepath.Join(dir, "missing.txt"))
	run(tftp, "-m", "octet", b4, "-c", "put", snmpConf, "upload.conf")
	dhcp := run(busybox, "udhcpc", "-i", p.A.Link, "-f", "-q", "-n", "-t", "3", "-T", "2", "-s", "/bin/true")
	run(logger, "--udp", "--server", b4, "--port", "514", "-p", "local3.warning", "--rfc3164", "disk almost full")
	run(logger, "--udp", "--server", b4, "--port", "514", "-p", "user.notice", "hello from a test")
	run(logger, "--udp", "--server", b4, "--port", "514", "-p", "auth.info", "-t", "sshd", "session opened")
	// bird speaks RIP on both ends of the veth (it installs no routes:
	// it has no kernel protocol); each asks, then tells, by multicast.
	for _, h := range []*porttest.Host{p.A, p.B} {
		conf := write("bird-"+h.Link+".conf", "router id "+h.Addr4.String()+";\nprotocol device { }\nprotocol direct { ipv4; interface \""+h.Link+
			"\"; }\nprotocol rip { ipv4 { import all; export all; }; interface \""+h.Link+"\" { update time 5; }; }\n")
		h.Start(t, bird, "-f", "-c", conf, "-s", filepath.Join(dir, "bird-"+h.Link+".ctl"))
	}
	porttest.WaitFor(t, "RIP responses from both ends in the capture", func() bool {
		out, _ := exec.Command(tcpdump, "-nn", "-r", file).Output()
		s := string(out)
		return strings.Contains(s, a4+".520 > 224.0.0.9.520: RIPv2, Response") && strings.Contains(s, b4+".520 > 224.0.0.9.520: RIPv2, Response")
	})
	cap.Process.Signal(syscall.SIGINT)
	cap.Wait()

	want := diffAll(t, file)
	all := strings.Join(want, "\n")
	for _, s := range []string{
		" GetRequest(", " GetResponse(", " GetNextRequest(", " GetBulk(", " SetRequest(", "noSuchName@2", `C="secret" `,
		" Trap(", " V2Trap(", "F=r ", " Report(",
		"NTPv4, Client, length 48", "NTPv4, Server, length 48",
		`RRQ "three-blocks.txt" octet`, "DATA block 3", "ACK block 3", `ERROR ENOTFOUND "File not found"`, `WRQ "upload.conf" octet`,
		"BOOTP/DHCP, Request from ", "BOOTP/DHCP, Reply, length",
		"SYSLOG local3.warning, length:", "SYSLOG user.notice, length:", "SYSLOG auth.info, length:",
		"> 224.0.0.9.520: RIPv2, Request, length: 24", "> 224.0.0.9.520: RIPv2, Response, length: ",
	} {
		if !strings.Contains(all, s) {
			t.Errorf("tcpdump's lines lack %q: the exchange did not happen as planned:\n%s\nsnmpd: %s\nchronyd: %s\nchronyd -Q: %s\n"+
				"in.tftpd: %s\ndnsmasq: %s\nudhcpc: %s", s, all, snmpLog, ntpLog, ntp, tftpLog, dhcpLog, dhcp)
			break
		}
	}
}
