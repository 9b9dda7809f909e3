package web

import (
	"fmt"
	"net"
	"net/http"
	"sync"
)

// streamLimits counts open streams, in all and per client address.
type streamLimits struct {
	max, perIP int

	mu   sync.Mutex
	open int
	byIP map[string]int
}

// retryAfter is what a refused subscriber is told to wait, in seconds.
const retryAfter = "5"

// acquire takes a stream slot for the client of r, or says why it cannot:
// a 503 when the server is full, a 429 when this address has its share.
// A taken slot is given back with release.
func (l *streamLimits) acquire(r *http.Request) (ip string, err *apiError) {
	ip = clientIP(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		return "", &apiError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("the hub holds its maximum of %d streams; retry later", l.max)}
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return "", &apiError{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf("%s holds its maximum of %d streams", ip, l.perIP)}
	}
	l.open++
	if l.perIP > 0 {
		l.byIP[ip]++
	}
	return ip, nil
}

func (l *streamLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP > 0 {
		if l.byIP[ip]--; l.byIP[ip] <= 0 {
			delete(l.byIP, ip)
		}
	}
}

// clientIP is the address the request came from (proxies are not trusted
// here: X-Forwarded-For is ignored).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
