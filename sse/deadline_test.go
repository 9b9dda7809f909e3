package sse_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

// pipeListener hands out the server ends of in-memory connections made by
// dial. Inside a synctest bubble its connections (net.Pipe, whose deadlines
// run on the bubble's clock) let a real http.Server and a real
// http.Transport talk while time is fake: a test can leave a stream idle
// for as long as it likes and see exactly what net/http does meanwhile.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial is the client side: an http.Transport's DialContext.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	return nil, errors.New("pipe listener: closed")
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// selfSigned returns a certificate for "hubd.test" valid around the
// current (possibly fake) time, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"hubd.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// servePipe starts h on an http.Server speaking proto ("HTTP/1.1", "h2c"
// or "h2" over TLS) through a pipeListener, and returns a client for it and
// the URL to ask. Both are shut down when the test ends. It must run inside
// a synctest bubble.
func servePipe(t *testing.T, proto string, h http.Handler) (*http.Client, string) {
	t.Helper()
	ln := newPipeListener()
	srv := &http.Server{Handler: h}
	tr := &http.Transport{DialContext: ln.dial, DisableCompression: true}
	url := "http://hubd.test/"
	served := make(chan error, 1)
	switch proto {
	case "HTTP/1.1":
		go func() { served <- srv.Serve(ln) }()
	case "h2c":
		srv.Protocols, tr.Protocols = new(http.Protocols), new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
		tr.Protocols.SetUnencryptedHTTP2(true)
		go func() { served <- srv.Serve(ln) }()
	case "h2":
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "hubd.test"}
		tr.ForceAttemptHTTP2 = true
		url = "https://hubd.test/"
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	default:
		t.Fatalf("unknown protocol %q", proto)
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &http.Client{Transport: tr}, url
}

// TestIdleStreamOutlivesWriteTimeout leaves a stream idle for three write
// timeouts, twice: between two events, and before a clean Close. Idle time
// is not a slow write, so the stream must deliver the second event and end
// cleanly (a client that sees a clean end does not reconnect). Over
// HTTP/2, net/http turns a write deadline into a timer that resets the
// stream when it fires, write or no write; over HTTP/1.1 a stale deadline
// would cut net/http's own last chunk after the handler returns. The
// bubble's fake clock makes the idle time exact and free.
func TestIdleStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, proto := range []string{"HTTP/1.1", "h2c", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				next := make(chan struct{})
				handlerDone := make(chan error, 1)
				client, url := servePipe(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					handlerDone <- func() error {
						s, err := sse.NewSSE(w, r, sse.WithWriteTimeout(timeout))
						if err != nil {
							return err
						}
						for _, el := range []string{`<p id="a">1</p>`, `<p id="a">2</p>`} {
							if err := s.PatchElements(el); err != nil {
								return err
							}
							<-next // the client read it, then stayed idle
						}
						return s.Close()
					}()
				}))
				resp, err := client.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				wantProto := map[string]int{"HTTP/1.1": 1, "h2c": 2, "h2": 2}[proto]
				if resp.ProtoMajor != wantProto {
					t.Fatalf("response over %s, want HTTP/%d", resp.Proto, wantProto)
				}
				br := bufio.NewReader(resp.Body)
				for i, want := range []string{`<p id="a">1</p>`, `<p id="a">2</p>`} {
					ev, err := readEvent(br)
					if err != nil {
						t.Fatalf("event %d after %v idle: %v", i+1, time.Duration(i)*3*timeout, err)
					}
					if ev.Fields["elements"] != want {
						t.Fatalf("event %d: %+v", i+1, ev)
					}
					time.Sleep(3 * timeout) // idle: nothing is written
					next <- struct{}{}
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
					t.Fatalf("end of the stream: %q, %v; want a clean end", rest, err)
				}
				if err := <-handlerDone; err != nil {
					t.Fatalf("handler: %v", err)
				}
			})
		})
	}
}

// TestWriteTimeoutBoundsStuckWrites has a client that opens a stream and
// never reads its body: once the connection's buffers and the protocol's
// flow-control window are full, a send must fail within one write timeout,
// over every protocol, and report through OnError and OnClose. It guards
// the deadline that TestIdleStreamOutlivesWriteTimeout makes per-write.
func TestWriteTimeoutBoundsStuckWrites(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, proto := range []string{"HTTP/1.1", "h2c", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				type failure struct {
					err   error
					took  time.Duration
					sends int
				}
				failed := make(chan failure, 1)
				onError, onClose := make(chan error, 1), make(chan error, 1)
				client, url := servePipe(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s, err := sse.NewSSE(w, r, sse.WithWriteTimeout(timeout),
						sse.OnError(func(_ *sse.Stream, err error) bool { onError <- err; return false }), sse.OnClose(func(_ *sse.Stream, err error) { onClose <- err }))
					if err != nil {
						failed <- failure{err: err}
						return
					}
					big := sse.PatchElements{Elements: "<p>" + strings.Repeat("y", 64<<10) + "</p>"}
					for n := 1; ; n++ {
						start := time.Now()
						if err := s.Send(big); err != nil {
							failed <- failure{err, time.Since(start), n}
							return
						}
					}
				}))
				resp, err := client.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close() // and never read
				f := <-failed
				if f.err == nil || errors.Is(f.err, sse.ErrClosed) {
					t.Fatalf("send %d: error %v, want the write's own", f.sends, f.err)
				}
				if f.took > timeout {
					t.Fatalf("send %d failed after %v, want within the write timeout %v", f.sends, f.took, timeout)
				}
				if err := <-onError; err == nil {
					t.Fatal("OnError got nil")
				}
				if err := <-onClose; err == nil {
					t.Fatal("OnClose got nil after a failed write")
				}
			})
		})
	}
}
