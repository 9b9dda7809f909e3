package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/cluster"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, written as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hubd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTLSNATS starts a NATS server with JetStream that speaks only TLS,
// requires a client certificate signed by p's CA, and a token.
func startTLSNATS(t *testing.T, p pki, token string) *server.Server {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	return runNATS(t, &server.Options{
		Authorization: token,
		TLS:           true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert}, ClientCAs: p.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
		},
	})
}

// TestTLSAndToken opens the log on a NATS server that wants TLS with a
// client certificate and a token, as the cluster-ca, cluster-cert,
// cluster-key and cluster-token settings give them; each piece left out
// is refused.
func TestTLSAndToken(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const token = "a-long-enough-test-token"
	srv := startTLSNATS(t, p, token)
	url := "tls://" + srv.Addr().String()
	good := func() cluster.Config {
		cfg := testConfig(srv)
		cfg.URLs, cfg.CAFile, cfg.CertFile, cfg.KeyFile, cfg.Token = url, p.caFile, p.clientCert, p.clientKey, token
		cfg.ConnectTimeout = 2 * time.Second
		return cfg
	}

	tests := []struct {
		name   string
		change func(*cluster.Config)
		auth   bool // refused for who it is, rather than unreachable
	}{
		{"no CA: the server's certificate is not trusted", func(c *cluster.Config) { c.CAFile = "" }, false},
		{"no client certificate", func(c *cluster.Config) { c.CertFile, c.KeyFile = "", "" }, false},
		{"wrong token", func(c *cluster.Config) { c.Token = "not-the-token-at-all" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.change(&cfg)
			l, err := cluster.Open(t.Context(), cfg, nil)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if got := errors.Is(err, nats.ErrAuthorization); got != tt.auth {
				t.Errorf("Open = %v; authorization error %v, want %v", err, got, tt.auth)
			}
		})
	}

	l := open(t, good())
	seq, err := l.Append(t.Context(), msg("secure"), "")
	if err != nil {
		t.Fatal(err)
	}
	f := follow(t, l, 0)
	if got := seqs(f.await(t, seq)); len(got) != 1 || got[0] != seq {
		t.Errorf("followed %v over TLS, want [%d]", got, seq)
	}
}
