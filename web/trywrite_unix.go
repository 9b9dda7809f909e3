//go:build unix

package web

import (
	"net"
	"syscall"
)

// rawConn returns conn's descriptor for writes that never wait, or nil if
// it has none (a TLS connection, whose bytes must go through it).
//
// The writes go through the descriptor's RawConn, which holds the
// descriptor open for the time of the write and fails once the connection
// is closed: a descriptor number closed and reused by another connection
// must never receive this stream's bytes, whoever closed it.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeFD writes s.try to the non-blocking descriptor fd once, without
// waiting for room, and records in s.tried how much went out; errors are
// left for the write through the connection that follows to find and
// report. It always reports true: done, do not wait for the descriptor.
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
