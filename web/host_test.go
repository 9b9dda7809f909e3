package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestHostsServed checks which Host headers a hub answers: without
// authorization, loopback names, IP addresses and the names of
// AllowedHosts ("*" for any), and nothing else; with authorization, any.
// Each is tried on a publish, a stream and /metrics over raw TCP, since a
// client library sends the Host of the URL it dials.
func TestHostsServed(t *testing.T) {
	t.Parallel()
	open, _ := newServer(t, hub.Config{}, web.Config{})
	listed, _ := newServer(t, hub.Config{}, web.Config{AllowedHosts: []string{"hub.example", "Other.Example."}})
	any, _ := newServer(t, hub.Config{}, web.Config{AllowedHosts: []string{"*"}})
	authz := newAuthServer(t, web.Config{}, "**")
	cases := []struct {
		name   string
		addr   string
		host   string
		served bool
	}{
		{"localhost", open.Listener.Addr().String(), "localhost:8080", true},
		{"localhost in capitals", open.Listener.Addr().String(), "LocalHost", true},
		{"localhost with a trailing dot", open.Listener.Addr().String(), "localhost.:8080", true},
		{"a name under localhost", open.Listener.Addr().String(), "app.localhost:3000", true},
		{"a loopback address", open.Listener.Addr().String(), "127.0.0.2:8080", true},
		{"IPv6 loopback", open.Listener.Addr().String(), "[::1]:8080", true},
		{"a private address", open.Listener.Addr().String(), "10.1.2.3", true},
		{"no Host (HTTP/1.0)", open.Listener.Addr().String(), "", true},
		{"a name", open.Listener.Addr().String(), "hub.example", false},
		{"a name ending in localhost", open.Listener.Addr().String(), "evillocalhost", false},
		{"a listed name", listed.Listener.Addr().String(), "hub.example:443", true},
		{"a listed name in other case", listed.Listener.Addr().String(), "HUB.example", true},
		{"a name listed with a dot", listed.Listener.Addr().String(), "other.example", true},
		{"a name not listed", listed.Listener.Addr().String(), "sub.hub.example", false},
		{"any name with *", any.Listener.Addr().String(), "rebind.attacker.example", true},
		{"any name with authorization", authz.Listener.Addr().String(), "rebind.attacker.example", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			proto, host := "HTTP/1.1", "Host: "+c.host+"\r\n"
			if c.host == "" {
				proto, host = "HTTP/1.0", ""
			}
			for _, req := range []string{
				"POST /topics/hosts " + proto + "\r\n" + host + "Content-Type: text/html\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 8\r\n\r\n<p>x</p>",
				"GET /metrics " + proto + "\r\n" + host + "\r\n",
				"GET /topics/hosts " + proto + "\r\n" + host + "Datastar-Request: true\r\n\r\n",
			} {
				status, body := rawAnswer(t, c.addr, req)
				method, _, _ := strings.Cut(req, "\r\n")
				if c.served && status != 200 {
					t.Errorf("%s: %d %+v, want it served", method, status, body)
				}
				if !c.served && (status != 421 || body.Field != "Host" || !strings.Contains(body.Error, fmt.Sprintf("Host %q is not served without authorization (allowed-hosts)", strings.ToLower(strings.Split(c.host, ":")[0])))) {
					t.Errorf("%s: %d %+v, want 421 naming the host and allowed-hosts", method, status, body)
				}
			}
		})
	}
}

func TestAllowedHostsValidated(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "http://hub.example", "hub.example:8080", "*.example", "hub example"} {
		h, err := hub.New(hub.Config{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = web.New(h, web.Config{AllowedHosts: []string{"ok.example", bad}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("allowed host %q", bad)) {
			t.Errorf("%q: %v, want an error naming it", bad, err)
		}
	}
}
