package mapper_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// writeCert makes a self-signed certificate for cn (also its DNS name)
// and the IPs, writes it and its key as PEM into dir under prefix, and
// returns the two paths.
func writeCert(t *testing.T, dir, prefix, cn string, ips ...netip.Addr) (certFile, keyFile string) {
	t.Helper()
	return writeCertNames(t, dir, prefix, []string{cn}, ips...)
}

// writeCertNames is writeCert for a certificate with several DNS names,
// the first also its common name.
func writeCertNames(t *testing.T, dir, prefix string, names []string, ips ...netip.Addr) (certFile, keyFile string) {
	t.Helper()
	cn := names[0]
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, prefix+"cert.pem"), filepath.Join(dir, prefix+"key.pem")
	// Written to temporary names and renamed, as a certificate renewal
	// does, so a reader never sees half a file.
	for path, blk := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestTLSTermination: curl --cacert and openssl s_client complete TLS
// with the mapping, which relays plaintext to an HTTP backend; TLS 1.1
// is refused.
func TestTLSTermination(t *testing.T) {
	web := newBackend(t, "A")
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "", "a.test")
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "term", Type: mapper.TCP, Listen: testListen, To: []string{web.addr},
		TLSCert: cert, TLSKey: key}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("term")[0]
	out, code := porttest.Curl(t, "--cacert", cert, "--resolve", "a.test:"+itoa(addr.Port())+":"+addr.Addr().String(),
		"https://a.test:"+itoa(addr.Port())+"/")
	if code != 0 || out != "A" {
		t.Fatalf("curl --cacert through the terminating mapping: %q (exit %d), want A", out, code)
	}
	sout, ok := sClient(t, addr.String(), "a.test", cert)
	if !ok || !strings.Contains(sout, "Verify return code: 0 (ok)") {
		t.Errorf("openssl s_client: ok=%v:\n%s", ok, sout)
	}
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	rec.waitRefused(t, "term/"+mapper.RefuseHandshake)
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// waitFailed waits for a failure rule/stage to be counted.
func (r *recorder) waitFailed(t *testing.T, key string) {
	t.Helper()
	porttest.WaitFor(t, "failure "+key, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.failed[key] > 0
	})
}

// TestTLSCertificateReload: a reload with new certificate files keeps
// the rule and an open connection (through the old certificate), and
// new handshakes get the new certificate.
func TestTLSCertificateReload(t *testing.T) {
	l, echo := porttest.ListenTCP(t)
	serveEcho(l)
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "", "old.test")
	s, _, _ := newServer(t)
	rules := []mapper.Rule{{Name: "term", Type: mapper.TCP, Listen: testListen, To: []string{echo.String()}, TLSCert: cert, TLSKey: key}}
	if err := s.Apply(rules); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("term")[0].String()
	old, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "old.test" {
		t.Fatalf("first certificate %q", cn)
	}
	writeCert(t, dir, "", "new.test")
	if err := s.Apply(rules); err != nil {
		t.Fatal(err)
	}
	if st := s.LastApply(); st.Kept != 1 {
		t.Errorf("reload %+v, want the rule kept", st)
	}
	sout, _ := sClient(t, addr, "new.test", "")
	if !strings.Contains(sout, "subject=CN = new.test") {
		t.Errorf("a handshake after the reload did not get the new certificate:\n%s", sout)
	}
	// The connection opened before still relays.
	old.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(old, "still here\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(old).ReadString('\n')
	if err != nil || line != "still here\n" {
		t.Errorf("the connection through the old certificate: %q, %v", line, err)
	}
	// A key that does not load fails the reload and keeps the old one.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(rules); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Errorf("reload with a broken key: %v, want a tls_cert error", err)
	}
	sout, _ = sClient(t, addr, "new.test", "")
	if !strings.Contains(sout, "subject=CN = new.test") {
		t.Errorf("after a failed reload the certificate changed:\n%s", sout)
	}
}

// TestTLSOrigination: plaintext clients, a TLS destination (openssl
// s_server) verified by to_ca and to_server_name; a wrong name fails.
func TestTLSOrigination(t *testing.T) {
	sAddr, sCert := opensslServer(t, "a.test", "-www")
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{
		{Name: "orig", Type: mapper.TCP, Listen: testListen, To: []string{sAddr}, ToTLS: true, ToServerName: "a.test", ToCA: sCert},
		{Name: "wrong", Type: mapper.TCP, Listen: testListen, To: []string{sAddr}, ToTLS: true, ToServerName: "x.test", ToCA: sCert},
	}); err != nil {
		t.Fatal(err)
	}
	get := func(rule string) (string, error) {
		c, err := net.Dial("tcp", s.Addrs(rule)[0].String())
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		b, err := io.ReadAll(c)
		return string(b), err
	}
	body, err := get("orig")
	if err != nil || !strings.HasPrefix(body, "HTTP/1.0 200 ok") || !strings.Contains(body, "TLSv1.3") {
		t.Errorf("plaintext GET through TLS origination: %v:\n%s", err, body)
	}
	body, _ = get("wrong")
	if strings.Contains(body, "HTTP/1.0 200") {
		t.Errorf("a destination whose certificate is not for to_server_name was used:\n%s", body)
	}
	rec.waitFailed(t, "wrong/dial")
	// The failure is counted before its log line is written: wait for the line.
	porttest.WaitFor(t, "the handshake failure's log line", func() bool {
		out := logs.String()
		return strings.Contains(out, "tls handshake with "+sAddr) && strings.Contains(out, "x.test")
	})
}

// TestTLSALPNPassedOn: terminating and originating, the client's ALPN
// offer reaches the destination (openssl s_server -alpn), whose choice
// the client gets; a destination with none gives the client none.
func TestTLSALPNPassedOn(t *testing.T) {
	h2Addr, h2Cert := opensslServer(t, "a.test", "-www", "-alpn", "h2,http/1.1")
	plainAddr, plainCert := opensslServer(t, "b.test", "-www")
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "", "front.test")
	s, _, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{
		{Name: "h2", Type: mapper.TCP, Listen: testListen, To: []string{h2Addr}, TLSCert: cert, TLSKey: key,
			ToTLS: true, ToServerName: "a.test", ToCA: h2Cert},
		{Name: "none", Type: mapper.TCP, Listen: testListen, To: []string{plainAddr}, TLSCert: cert, TLSKey: key,
			ToTLS: true, ToServerName: "b.test", ToCA: plainCert},
	}); err != nil {
		t.Fatal(err)
	}
	for rule, want := range map[string]string{"h2": "ALPN protocol: h2", "none": "No ALPN negotiated"} {
		out, _ := sClientArgs(t, s.Addrs(rule)[0].String(), "-servername", "front.test", "-alpn", "h2,http/1.1")
		if !strings.Contains(out, want) || !strings.Contains(out, "subject=CN = front.test") {
			t.Errorf("rule %s: s_client -alpn h2,http/1.1: want %q from a handshake with front.test:\n%s", rule, want, out)
		}
	}
}

// TestTLSTerminationRoutesBySNI: a terminating rule routes by the server
// name of the handshake it terminates: curl --cacert for a.test and
// b.test through one port reaches two plain HTTP backends; an unknown
// name gets the alert unrecognized_name, and a client that sends no
// ClientHello is refused.
func TestTLSTerminationRoutesBySNI(t *testing.T) {
	a, b := newBackend(t, "A"), newBackend(t, "B")
	cert, key := writeCertNames(t, t.TempDir(), "", []string{"a.test", "b.test", "c.test"})
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "termsni", Type: mapper.TCP, Listen: testListen, TLSCert: cert, TLSKey: key,
		Routes: []mapper.Route{{SNI: "a.test", To: []string{a.addr}}, {SNI: "b.test", To: []string{b.addr}}}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("termsni")[0]
	port := itoa(addr.Port())
	for name, want := range map[string]string{"a.test": "A", "b.test": "B"} {
		out, code := porttest.Curl(t, "--cacert", cert, "--resolve", name+":"+port+":"+addr.Addr().String(), "https://"+name+":"+port+"/")
		if code != 0 || out != want {
			t.Errorf("curl https://%s through the terminating rule: %q (exit %d), want %q", name, out, code, want)
		}
	}
	// c.test is in the certificate, but no route has it.
	out, ok := sClient(t, addr.String(), "c.test", cert)
	if ok || !strings.Contains(out, "unrecognized name") {
		t.Errorf("s_client -servername c.test: ok=%v, want the alert unrecognized name:\n%s", ok, out)
	}
	rec.waitRefused(t, "termsni/"+mapper.RefuseUnknownName)
	if out, code := porttest.Curl(t, "http://"+addr.String()+"/"); code == 0 {
		t.Errorf("plain HTTP to the terminating rule: %q, exit 0; want a refusal", out)
	}
	rec.waitRefused(t, "termsni/"+mapper.RefuseHandshake)
	if !strings.Contains(logs.String(), "did not start with a TLS ClientHello") {
		t.Errorf("the plain HTTP client's refusal does not say why:\n%s", logs)
	}
}

// TestTLSTerminationALPN: a terminate-only rule answers the client's ALPN
// offer from its list, in the list's order (openssl s_client -alpn);
// an offer with none of them is refused with no_application_protocol;
// curl --http1.1 gets http/1.1 and its answer.
func TestTLSTerminationALPN(t *testing.T) {
	web := newBackend(t, "A")
	cert, key := writeCert(t, t.TempDir(), "", "a.test")
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "alpn", Type: mapper.TCP, Listen: testListen, To: []string{web.addr},
		TLSCert: cert, TLSKey: key, ALPN: []string{"h2", "http/1.1"}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("alpn")[0]
	for _, tc := range []struct{ offer, want string }{
		{"http/1.1", "ALPN protocol: http/1.1"},
		{"http/1.1,h2", "ALPN protocol: h2"}, // the rule's order, not the client's
		{"", "No ALPN negotiated"},
	} {
		args := []string{"-servername", "a.test", "-CAfile", cert, "-verify_return_error"}
		if tc.offer != "" {
			args = append(args, "-alpn", tc.offer)
		}
		out, ok := sClientArgs(t, addr.String(), args...)
		if !ok || !strings.Contains(out, tc.want) {
			t.Errorf("s_client -alpn %q: ok=%v, want %q:\n%s", tc.offer, ok, tc.want, out)
		}
	}
	out, ok := sClientArgs(t, addr.String(), "-servername", "a.test", "-alpn", "spdy/3")
	if ok || !strings.Contains(out, "no application protocol") {
		t.Errorf("s_client -alpn spdy/3: ok=%v, want the alert no application protocol:\n%s", ok, out)
	}
	rec.waitRefused(t, "alpn/"+mapper.RefuseHandshake)
	port := itoa(addr.Port())
	got, code := porttest.Curl(t, "--http1.1", "-w", " %{http_version}", "--cacert", cert,
		"--resolve", "a.test:"+port+":"+addr.Addr().String(), "https://a.test:"+port+"/")
	if code != 0 || got != "A 1.1" {
		t.Errorf("curl --http1.1: %q (exit %d), want \"A 1.1\"", got, code)
	}
}

// TestTLSTerminationRoutesBySNIToTLS: terminating, routing by SNI and
// originating TLS to each route's openssl s_server: the route's
// destination answers the client's ALPN offer (h2 from the one started
// with -alpn, none from the other), through the rule's certificate.
func TestTLSTerminationRoutesBySNIToTLS(t *testing.T) {
	h2Addr, _ := opensslServer(t, "a.internal", "-www", "-alpn", "h2,http/1.1")
	plainAddr, _ := opensslServer(t, "b.internal", "-www")
	cert, key := writeCertNames(t, t.TempDir(), "", []string{"front.test", "a.test", "b.test"})
	s, _, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "sniorig", Type: mapper.TCP, Listen: testListen, TLSCert: cert, TLSKey: key,
		ToTLS: true, ToInsecureSkipVerify: true,
		Routes: []mapper.Route{{SNI: "a.test", To: []string{h2Addr}}, {SNI: "b.test", To: []string{plainAddr}}}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("sniorig")[0].String()
	for name, want := range map[string]string{"a.test": "ALPN protocol: h2", "b.test": "No ALPN negotiated"} {
		out, ok := sClientArgs(t, addr, "-servername", name, "-alpn", "h2,http/1.1", "-CAfile", cert, "-verify_return_error", "-verify_hostname", name)
		if !ok || !strings.Contains(out, want) || !strings.Contains(out, "subject=CN = front.test") {
			t.Errorf("s_client -servername %s -alpn h2,http/1.1: ok=%v, want %q through front.test's certificate:\n%s", name, ok, want, out)
		}
	}
}
