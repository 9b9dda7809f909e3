package main

import (
	"bytes"
	"net/http"
)

// protocol is what differs between the hubs hubload measures: where to
// subscribe and publish, how a subscriber knows it is registered, which
// stream lines carry a payload, and which publish answers mean accepted.
// The payloads and everything counted from them are the same.
type protocol struct {
	subPath string // GET subPath+topic opens an event stream
	pubPath string // POST pubPath+topic publishes the body

	// registered reports whether a stream line is the hub's sign that the
	// subscriber is registered: nothing published after it is missed.
	registered func(line []byte) bool

	// data prefixes a stream line whose rest is a payload.
	data []byte

	// accepted reports whether a publish answer's status means accepted.
	accepted func(status int) bool
}

var protocols = map[string]*protocol{
	// hubd writes the replay and a cursor frame (id: ...) right after it
	// registers a subscriber; a JSON publish arrives as a signals patch.
	"hubd": {
		subPath:    "/topics/",
		pubPath:    "/topics/",
		registered: func(line []byte) bool { return bytes.HasPrefix(line, []byte("id: ")) },
		data:       []byte("data: signals "),
		accepted:   func(status int) bool { return status == http.StatusOK },
	},
	// nchan's EventSource subscriber opens with the comment ": hi" once
	// the subscription is set up, then sends each message as
	// "id: <time>:<tag>\ndata: <body>\n\n"; a publish is answered 201
	// (a subscriber got it) or 202 (queued only). bench/nchan.conf makes
	// a new subscriber start at the oldest message its channel holds, so
	// that even a message published while the subscription travels to
	// the worker owning the channel is delivered.
	"nchan": {
		subPath:    "/sub/",
		pubPath:    "/pub/",
		registered: func(line []byte) bool { return bytes.HasPrefix(line, []byte(": hi")) },
		data:       []byte("data: "),
		accepted:   func(status int) bool { return status == http.StatusCreated || status == http.StatusAccepted },
	},
}
