//go:build unix

package web

import "syscall"

// tryWrites tells that writeFD can write without waiting here.
const tryWrites = true

// writeFD writes s.try to fd once, without waiting for room, and records
// how much went out in s.tried; errors are left for the blocking write
// that follows to find and report. It always reports true: done, do not
// wait for the descriptor.
func (s *rawStream) writeFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), s.try)
		if err == syscall.EINTR {
			continue
		}
		s.tried = max(n, 0)
		return true
	}
}
