package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// subscriber is one stream held open against the hub. It reads events of
// its topic, records publish-to-receive latency from the timestamp in each
// payload, and keeps the set of sequence numbers it received to count
// losses and repeats. After an abort it reconnects with Last-Event-ID, as a
// browser would.
type subscriber struct {
	topic   string
	local   net.IP
	target  *url.URL
	proto   *protocol
	bufSize int // holds one payload line

	mu         sync.Mutex
	received   uint64
	dups       uint64
	seen       bitset
	lat        histogram
	reconnects int
	connected  bool
}

// bitset records which sequence numbers arrived.
type bitset []uint64

// set marks n and reports whether it was already marked.
func (b *bitset) set(n uint64) (dup bool) {
	w := n / 64
	if w >= uint64(len(*b)) {
		*b = append(*b, make([]uint64, w+1-uint64(len(*b)))...)
	}
	mask := uint64(1) << (n % 64)
	dup = (*b)[w]&mask != 0
	(*b)[w] |= mask
	return dup
}

// run keeps the subscriber connected until ctx ends. connected is called
// once, when the first stream is open and registered.
func (s *subscriber) run(ctx context.Context, connected func(error)) {
	lastID := ""
	first := true
	for ctx.Err() == nil {
		err := s.stream(ctx, &lastID, func() {
			if first {
				first = false
				connected(nil)
			}
		})
		if first {
			first = false
			connected(err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		select { // a browser waits before it retries; so do we, briefly
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stream opens one connection with a raw HTTP/1.1 request (one goroutine
// and two small buffers per subscriber, so that one process can hold many)
// and reads it until it ends.
func (s *subscriber) stream(ctx context.Context, lastID *string, opened func()) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: s.local}, Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.target.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", s.proto.subPath, s.topic, s.target.Host)
	if *lastID != "" {
		fmt.Fprintf(&req, "Last-Event-ID: %s\r\n", *lastID)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("subscribe %s: %s", s.topic, resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, s.bufSize)
	registered := false
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // a payload longer than the buffer: not ours to parse
		}
		if err != nil {
			return err
		}
		if !registered && s.proto.registered(line) {
			// From here on nothing published is missed.
			registered = true
			s.mu.Lock()
			s.connected = true
			s.mu.Unlock()
			opened()
		}
		switch {
		case bytes.HasPrefix(line, []byte("id: ")):
			*lastID = string(bytes.TrimSpace(line[4:]))
		case bytes.HasPrefix(line, s.proto.data):
			s.record(line[len(s.proto.data):])
		}
	}
}

// record takes a payload {"t":UNIXNANO,"s":SEQ,...} and counts it.
func (s *subscriber) record(payload []byte) {
	now := time.Now().UnixNano()
	t, ok1 := jsonInt(payload, `"t":`)
	seq, ok2 := jsonInt(payload, `"s":`)
	if !ok1 || !ok2 {
		return
	}
	s.mu.Lock()
	s.received++
	if s.seen.set(uint64(seq)) {
		s.dups++
	}
	s.lat.record(time.Duration(now - t))
	s.mu.Unlock()
}

// jsonInt reads the integer after key in a flat JSON object.
func jsonInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	end := 0
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(b[:end]), 10, 64)
	return n, err == nil
}

// topicName returns the name of topic i of a run: one path segment of
// letters, digits and '-', which hubd and nchan's channel IDs both take.
func topicName(prefix string, i int) string {
	return prefix + "-" + strconv.Itoa(i)
}

// sourceIP returns the i-th loopback source address, from 127.0.0.2, so
// that many connections to one hub port do not run out of ephemeral ports.
func sourceIP(i, n int) net.IP {
	k := 2 + i%max(n, 1)
	return net.IPv4(127, byte(k>>16), byte(k>>8), byte(k))
}

// topicFor spreads subscribers over topics.
func topicFor(prefix string, sub, topics int) string { return topicName(prefix, sub%topics) }

func isLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
