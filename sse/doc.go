// Package sse is a Datastar SDK for Go: it writes server-sent events that
// the Datastar browser client understands, and reads the signals the client
// sends. It needs nothing but the standard library and, for compression,
// github.com/klauspost/compress and github.com/andybalholm/brotli.
//
// # Streams
//
// NewSSE starts a text/event-stream response and returns a Stream. Each
// Send writes its events as one unit and flushes them:
//
//	stream, err := sse.NewSSE(w, r)
//	if err != nil {
//		return
//	}
//	defer stream.Close()
//	stream.Send(sse.PatchElements{Elements: `<div id="clock">12:00</div>`})
//	stream.Send(sse.PatchSignals{Signals: []byte(`{"ticks":1}`)}, sse.ConsoleLog("tick"))
//
// A Stream is safe for concurrent use; events of one Send or one Batch are
// never interleaved with others. Events are built (Eventer.Event, the
// Batch callback, JSON marshalling) before the stream is locked, so user
// code that panics or blocks there holds up no other sender. Every write
// has a deadline (DefaultWriteTimeout), so a client that stops reading
// cannot hold a sender forever; the deadline bounds writes only, never an
// idle stream, over HTTP/1 and HTTP/2 alike.
//
// The stream ends when the handler calls Close, when the request's context
// ends, or when a write fails. Closed, Err and Done report it, and Context
// ends with it, for work done on the stream's behalf. OnOpen, OnClose and
// OnError are handed the stream; OnClose runs exactly once, never while
// OnOpen runs, and later sends return ErrClosed. OnError also sees events
// a send refuses, and decides whether the stream closes.
//
// # Events
//
// PatchElements (every mode, selector, namespace, view transitions),
// PatchSignals (JSON merge patches, MarshalSignals, RemoveSignals),
// ExecuteScript and its shortcuts ConsoleLog, ConsoleError, Redirect,
// ReplaceURL, ReplaceURLQuery, Prefetch and DispatchEvent all implement
// Eventer, and PatchElementsSeq, ConsoleLogf, Redirectf and RemoveElementsf
// build them. Event and AppendEvent give the wire form for any other use,
// such as encoding a frame once for many subscribers.
//
// The stream's own shortcuts: PatchElements, PatchElementsf,
// PatchElementsSeq, PatchSignals (raw JSON, like the PatchSignals event),
// MarshalAndPatchSignals (a Go value) and PatchComponent, which renders a
// Component (a templ component, or anything with Render(ctx, io.Writer)
// error) with the stream's context.
//
// # Safety
//
// Every event is validated before a byte is written. Line breaks of every
// kind (CRLF, LF, CR) in payloads become separate data lines, which the
// client joins again; an event name, ID, data key, selector, mode or
// namespace containing CR, LF or NUL is refused, as is invalid UTF-8, so
// that no input can add fields or events to the stream. This holds for
// Eventers written outside the package too: Send and Batch validate what
// any Eventer returns. A Retry under a millisecond, the retry field's unit,
// is refused rather than written as an instant reconnection. "</script" inside a
// script is escaped. The action builders (Get, Post, ...) escape their
// strings for HTML attributes and script elements.
//
// # Signals
//
// ReadSignals decodes the signals of a request: from the "datastar" query
// parameter of a GET, DELETE or HEAD request, from the JSON body otherwise,
// within a size limit. Read them before NewSSE starts the response, which
// closes the body.
//
// # Write profiles
//
// WithCompression negotiates gzip, zstd, brotli or deflate from
// Accept-Encoding, honouring q-values and the server's order of
// preference, and refuses an encoding it has no coder for. Its coders are
// set for many idle streams: gzip keeps no window between events and zstd
// writes one self-contained frame per flush with a shared encoder, so an
// idle compressed stream holds about as much memory as an uncompressed one.
// WithCoders takes coders with levels and windows of one's own
// (GzipCoder, BrotliCoder, NewZstdCoder, DeflateCoder) or a Coder of one's
// own for any other coding; WithNegotiation chooses by the client's
// weights, the server's order, or forces the first coder.
//
// Every send is written and flushed at once, unless WithBuffering makes
// the stream buffered: sends then collect in a buffer that Flush writes,
// so that many small updates share one write and one compressed block.
package sse
