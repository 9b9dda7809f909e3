//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit lifts the soft open-file limit to the hard one, since
// each subscriber holds a connection, and returns the limit in force (0 if
// unknown).
func raiseFileLimit(log *slog.Logger) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-file limit", "soft", old, "hard", lim.Max, "err", err)
			lim.Cur = old
		} else {
			log.Debug("raised the open-file limit", "from", old, "to", lim.Max)
		}
	}
	return int(min(lim.Cur, 1<<30))
}
