//go:build unix

package web

import (
	"net"
	"syscall"
)

// descriptor returns conn's file descriptor, for writeNow, or -1 if it has
// none.
//
// writeNow writes to the descriptor directly, outside the poller's
// bookkeeping, which is safe only because nothing but the stream's own
// goroutine closes a hijacked connection (openStream.close): a descriptor
// that was closed and reused could otherwise receive another connection's
// bytes. Writes that wait for room still go through the connection.
func descriptor(conn net.Conn) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil {
		return -1
	}
	return fd
}

// writeNow writes b to the non-blocking descriptor fd once, without
// waiting for room, and returns how much went out; errors are left for
// the write through the connection that follows to find and report.
func writeNow(fd int, b []byte) int {
	for {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		return max(n, 0)
	}
}
