package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
)

// liveStreams are the open streams, by stream ID, for disconnects.
type liveStreams struct {
	mu  sync.Mutex
	all map[uint64]*openStream
}

func (l *liveStreams) add(o *openStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all[o.n] = o
}

func (l *liveStreams) remove(o *openStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.all, o.n)
}

// matching returns the open streams d names on node.
func (l *liveStreams) matching(d hub.Disconnect, node string) []*openStream {
	if d.Stream != "" {
		n, ok := streamNumber(d.Stream, node)
		l.mu.Lock()
		defer l.mu.Unlock()
		if o := l.all[n]; ok && o != nil {
			return []*openStream{o}
		}
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*openStream
	for _, o := range l.all {
		if d.User != "" && o.user == d.User || d.Topic != "" && slices.Contains(o.sub.Topics, d.Topic) {
			out = append(out, o)
		}
	}
	return out
}

// streamNumber reads a stream's ID as a disconnect names it: its number
// as logged (stream_id), or NODE/number naming this node too. ok is false
// when id names no stream of node.
func streamNumber(id, node string) (n uint64, ok bool) {
	if node != "" {
		id = strings.TrimPrefix(id, node+"/")
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == id // as logged: no sign, no leading zero
}

// admitted starts what ends an admitted stream on its own: the token's
// expiry, the app's rechecks. It runs once the stream is registered.
func (s *Server) admitted(o *openStream, acc access) {
	s.live.add(o)
	if !acc.expires.IsZero() {
		o.expiry = time.AfterFunc(time.Until(acc.expires), func() { s.endStream(o, errTokenExpired) })
	}
	if acc.cred != nil {
		s.authReq.watch(s, o, acc.cred, acc.appRights)
	}
}

// released gives back what an ended stream held: its slots, its place
// among the live streams, its expiry timer and its rechecks. It runs once
// per stream, by whoever ended it (see openStream.end).
func (s *Server) released(o *openStream) {
	s.limits.release(o.ip, o.user)
	s.live.remove(o)
	if o.expiry != nil {
		o.expiry.Stop()
	}
	if o.session != "" {
		s.authReq.unwatch(o)
	}
}

// endStream ends o for reason: its subscription is closed, and its
// goroutine cuts the connection so that the client comes back and is
// authorized again.
func (s *Server) endStream(o *openStream, reason error) {
	s.ended.WithLabelValues(endedLabel(reason)).Inc()
	if s.log.Enabled(o.ctx, slog.LevelInfo) {
		s.log.LogAttrs(o.ctx, slog.LevelInfo, "stream ended", o.attrs(slog.String("user", o.user), slog.Any(keyReason, reason))...)
	}
	o.sub.End(reason)
}

func endedLabel(reason error) string {
	switch {
	case errors.Is(reason, errTokenExpired):
		return "token-expired"
	case errors.Is(reason, errRevoked):
		return "revoked"
	default:
		return "disconnected"
	}
}

// Disconnect ends the streams on this node that d names and returns how
// many (none when d names nothing). A cluster's other nodes call it for
// disconnects sent to any node.
func (s *Server) Disconnect(d hub.Disconnect) int {
	if d.User == "" && d.Topic == "" && d.Stream == "" {
		return 0
	}
	if d.User != "" && s.authReq != nil {
		s.authReq.forgetUser(d.User)
	}
	streams := s.live.matching(d, s.hub.NodeID())
	for _, o := range streams {
		s.endStream(o, errDisconnected)
	}
	return len(streams)
}

// disconnectAnswer is the body of a successful POST /streams/disconnect.
type disconnectAnswer struct {
	Disconnected int `json:"disconnected"`
	// Nodes is how many nodes answered: this one, and with a cluster the
	// others that answered in time.
	Nodes int `json:"nodes"`
}

// handleDisconnect serves POST /streams/disconnect: {"user": …}, {"topic":
// …} or {"stream": …} (exactly one) ends the matching streams at once, on
// every node of a cluster, and answers how many. It needs an admin key or
// a token whose hubd claim holds "admin": true. The clients come back, as
// after any cut, and are authorized again.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizeAdmin(r); err != nil {
		writeError(w, r, err)
		return
	}
	d, err := readDisconnect(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		writeError(w, r, err)
		return
	}
	n := s.Disconnect(d)
	nodes := 1
	if s.shareDisconnect != nil {
		ctx, cancel := context.WithTimeout(r.Context(), disconnectWait)
		more, answered, err := s.shareDisconnect(ctx, d)
		cancel()
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "disconnect on other nodes", slog.Any("err", err))
		}
		n += more
		nodes += answered
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "disconnect", slog.String("user", d.User), slog.String("topic", d.Topic),
		slog.String("stream", d.Stream), slog.Int("disconnected", n))
	writeJSON(w, http.StatusOK, disconnectAnswer{Disconnected: n, Nodes: nodes})
}

// disconnectWait bounds how long a disconnect waits for the other nodes
// of a cluster to say how many streams they ended.
const disconnectWait = 2 * time.Second

// readDisconnect reads a disconnect's body: one of user, topic or stream.
func readDisconnect(body io.Reader) (hub.Disconnect, error) {
	var d hub.Disconnect
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, badField("body", fmt.Errorf(`want {"user": "…"}, {"topic": "…"} or {"stream": "…"}: %w`, err))
	}
	given := 0
	for _, v := range []string{d.User, d.Topic, d.Stream} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return d, badField("body", errors.New(`give exactly one of "user", "topic" or "stream"`))
	}
	if d.Topic != "" {
		if err := hub.ValidateTopic(d.Topic); err != nil {
			return d, badField("topic", err)
		}
	}
	if err := validateUser(d.User); err != nil {
		return d, badField("user", err)
	}
	return d, nil
}

// authorizeAdmin checks an operator's credential: an admin key, or a token
// whose hubd claim holds "admin": true. A hub without authorization (it
// trusts whoever reaches it) lets everyone in.
func (s *Server) authorizeAdmin(r *http.Request) error {
	if !s.authOn() {
		return nil
	}
	a := s.cfg.Auth
	token, present, err := bearer(r)
	if err != nil {
		return err
	}
	if !present {
		return unauthorized("authorization: missing; this endpoint needs an admin key (admin-keys) or a token with \"admin\": true", false, auth.ErrNoCredential)
	}
	if a.AdminKey(token) {
		return nil
	}
	if a.AcceptsTokens() {
		claims, err := a.Parse(token)
		if err != nil {
			return unauthorized("authorization: "+err.Error(), true, err)
		}
		if claims.Hubd.Admin {
			return nil
		}
		return &apiError{Status: http.StatusForbidden, Field: "authorization", Err: auth.ErrForbidden,
			Msg: `authorization: the token's hubd claim does not hold "admin": true`}
	}
	return unauthorized("authorization: not an admin key", true, auth.ErrInvalidToken)
}
