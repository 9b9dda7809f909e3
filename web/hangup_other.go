//go:build !linux

package web

import "log/slog"

// hangups does nothing on this system: a hijacked stream whose client
// hangs up is noticed by its next write that fails, a heartbeat at the
// latest (see hangup_linux.go for the watcher).
type hangups struct{}

func newHangups(*slog.Logger, func(*openStream), func(*openStream)) *hangups { return &hangups{} }

func (*hangups) watch(*openStream)   {}
func (*hangups) unwatch(*openStream) {}
func (*hangups) close()              {}
func (*hangups) reap(string) int     { return 0 }
