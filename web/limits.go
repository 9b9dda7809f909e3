package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// streamLimits counts open streams, in all and per client address.
type streamLimits struct {
	max, perIP, perUser int

	mu     sync.Mutex
	open   int
	byIP   map[string]int
	byUser map[string]int // streams of users with a name
}

// retryAfter is what a subscriber refused by a limit is told to wait, in
// seconds.
const retryAfter = "5"

// acquire takes a stream slot for the client at ip, of user ("" for none),
// or says why it cannot: a 503 when the server is full, a 429 when this
// address or this user has its share. A taken slot is given back with
// release.
func (l *streamLimits) acquire(ip, user string) *apiError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		return &apiError{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter, Refused: refusedFull,
			Msg: fmt.Sprintf("the hub holds its maximum of %d streams; retry later", l.max)}
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return &apiError{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Refused: refusedPerIP,
			Msg: fmt.Sprintf("%s holds its maximum of %d streams", ip, l.perIP)}
	}
	if l.perUser > 0 && user != "" && l.byUser[user] >= l.perUser {
		return &apiError{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Refused: refusedPerUser,
			Msg: fmt.Sprintf("user %q holds its maximum of %d streams", user, l.perUser)}
	}
	l.open++
	if l.perIP > 0 {
		l.byIP[ip]++
	}
	if l.perUser > 0 && user != "" {
		l.byUser[user]++
	}
	return nil
}

func (l *streamLimits) release(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP > 0 {
		if l.byIP[ip]--; l.byIP[ip] <= 0 {
			delete(l.byIP, ip)
		}
	}
	if l.perUser > 0 && user != "" {
		if l.byUser[user]--; l.byUser[user] <= 0 {
			delete(l.byUser, user)
		}
	}
}

// clientIP is the address the request came from. When the peer is a
// trusted proxy, it is the right-most address of X-Forwarded-For that is
// not itself a trusted proxy (addresses further left could be forged by the
// client).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // a malformed entry: stop at the last address we trust
		}
		if !s.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (s *Server) trusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
