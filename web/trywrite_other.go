//go:build !unix

package web

import (
	"net"
	"syscall"
)

// rawConn returns nil: without a portable write that never waits, streams
// on these systems take no turns (see rawStream.tryWrite).
func rawConn(net.Conn) syscall.RawConn { return nil }

// writeFD writes nothing; it is never called here.
func (s *rawStream) writeFD(uintptr) bool {
	s.tried = 0
	return true
}
