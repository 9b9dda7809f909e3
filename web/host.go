package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// checkHost refuses, with 421, a request whose Host a hub without
// authorization does not answer to. Such a hub trusts whoever can reach
// it, which on loopback means this machine; but a page on a name its
// author controls can resolve that name to 127.0.0.1 once loaded (DNS
// rebinding) and then call the hub as its own origin, sending its own name
// as Host. So without authorization only these are served: loopback names
// (localhost, *.localhost), IP addresses (a browser sends an address as
// Host only for a page loaded from that address, which no attacker can
// rebind), the names in AllowedHosts ("*": any), and requests with no Host
// at all (HTTP/1.0 probes; no browser sends one). With authorization on,
// every request carries its own credential and any Host is served.
func (s *Server) checkHost(r *http.Request) error {
	if s.authOn() || r.Host == "" {
		return nil
	}
	host := hostName(r.Host)
	if loopbackName(host) || allowedHost(host, s.cfg.AllowedHosts) {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	return &apiError{Status: http.StatusMisdirectedRequest, Field: "Host",
		Msg: fmt.Sprintf("Host %q is not served without authorization (allowed-hosts): a hub without authorization answers "+
			"only loopback names such as localhost, IP addresses and the names listed in allowed-hosts, "+
			"so that a page on a rebound DNS name cannot reach it", host)}
}

// hostName is the host of a Host header, without port, brackets or a
// trailing dot, in lower case.
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// loopbackName reports whether host is a name browsers resolve to
// loopback themselves, without asking DNS (RFC 6761).
func loopbackName(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

func allowedHost(host string, allowed []string) bool {
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	return false
}

// ValidateAllowedHost returns an error naming h if it cannot be an entry
// of Config.AllowedHosts: a host name without scheme, port or path, or "*".
func ValidateAllowedHost(h string) error {
	if h == "*" {
		return nil
	}
	if h == "" || strings.ContainsAny(h, "/:@ \t*") {
		return fmt.Errorf("allowed host %q: want a host name such as hub.example, without scheme or port, or *", h)
	}
	return nil
}
