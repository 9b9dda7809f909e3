//go:build !unix

package main

import "log/slog"

// raiseFileLimit returns 0: this system has no open-file limit to raise
// through setrlimit, so max-streams 0 leaves the number of streams
// unbounded there.
func raiseFileLimit(*slog.Logger) int { return 0 }
