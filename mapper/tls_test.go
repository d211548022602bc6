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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
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
