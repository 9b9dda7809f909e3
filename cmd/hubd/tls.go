package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// certStore holds the serving certificate and swaps it on reload, so that
// new connections get the new one while open streams go on undisturbed.
type certStore struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertStore(certFile, keyFile string) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the files again; on error the old certificate stays.
func (s *certStore) reload() error {
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", s.certFile, s.keyFile, err)
	}
	s.cert.Store(&c)
	return nil
}

// tlsConfig serves the current certificate with HTTP/2 and HTTP/1.1.
func (s *certStore) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
}

// reloadOnSignal reloads the certificate every time sig delivers, until
// it is closed.
func (s *certStore) reloadOnSignal(sig <-chan struct{}, log *slog.Logger) {
	for range sig {
		if err := s.reload(); err != nil {
			log.Error("TLS certificate not reloaded; the old one stays", "err", err)
			continue
		}
		log.Info("TLS certificate reloaded", "cert", s.certFile)
	}
}
