package mapper

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
)

// certHolder is a terminating rule's certificate, swapped on a reload
// (Server.Apply re-reads the files of rules it keeps) while the rule
// and its connections go on: new handshakes get the new certificate.
type certHolder struct {
	cert atomic.Pointer[tls.Certificate]
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cert.Load(), nil }

// maxCertFile bounds a certificate or key file, and a to_ca file.
const maxCertFile = 1 << 20

// readSmall reads a file of at most maxCertFile bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	} else if fi.Size() > maxCertFile {
		return nil, fmt.Errorf("%s: larger than the limit of 1 MiB", path)
	}
	return os.ReadFile(path)
}

// loadCert reads the rule's tls_cert and tls_key.
func loadCert(r *Rule) (*tls.Certificate, error) {
	certPEM, err := readSmall(r.TLSCert)
	if err != nil {
		return nil, &RuleError{Rule: r.Name, Field: "tls_cert", Err: err}
	}
	keyPEM, err := readSmall(r.TLSKey)
	if err != nil {
		return nil, &RuleError{Rule: r.Name, Field: "tls_key", Err: err}
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &RuleError{Rule: r.Name, Field: "tls_cert", Err: fmt.Errorf("%s and %s: %v", r.TLSCert, r.TLSKey, err)}
	}
	return &c, nil
}

// serverTLS is the configuration of a terminating rule: TLS 1.2 and
// 1.3 only, the certificate from the holder, the rule's ALPN list
// (crypto/tls picks the first of it the client offers).
func (rt *running) serverTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: rt.cert.get, NextProtos: rt.rule.ALPN}
}

// loadCA reads a to_ca file of PEM certificates.
func loadCA(r *Rule) (*x509.CertPool, error) {
	pem, err := readSmall(r.ToCA)
	if err != nil {
		return nil, &RuleError{Rule: r.Name, Field: "to_ca", Err: err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &RuleError{Rule: r.Name, Field: "to_ca", Err: fmt.Errorf("%s: no PEM certificate in it", r.ToCA)}
	}
	return pool, nil
}

// upstreamTLS is the configuration of a TLS connection to destination
// addr: to_server_name, else the destination's host (a name, or an IP
// address that the certificate must name); to_ca, else the system's
// roots; alpn offered.
func (rt *running) upstreamTLS(addr string, alpn []string) *tls.Config {
	r := &rt.rule
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rt.toCA, ServerName: r.ToServerName,
		InsecureSkipVerify: r.ToInsecureSkipVerify, NextProtos: alpn}
	if cfg.ServerName == "" {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = h
		}
	}
	return cfg
}

// ErrTLSHandshake is wrapped by the failure of a TLS handshake with a
// client (termination) or a destination (origination).
var ErrTLSHandshake = errors.New("tls handshake")

// CheckTLSFiles loads the rule's tls_cert and tls_key and its to_ca,
// as starting the rule would, so that a check of a config file finds a
// file that does not load before a start or reload does. Its error is a
// *RuleError naming the field.
func (r *Rule) CheckTLSFiles() error {
	if r.TLSCert != "" && r.TLSKey != "" {
		if _, err := loadCert(r); err != nil {
			return err
		}
	}
	if r.ToCA != "" {
		if _, err := loadCA(r); err != nil {
			return err
		}
	}
	return nil
}
