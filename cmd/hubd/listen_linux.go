package main

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeoutControl sets TCP_USER_TIMEOUT on the listening socket, which
// accepted connections inherit: when data written to a peer stays
// unacknowledged for d, the kernel drops the connection. A subscriber whose
// machine vanished without closing is then found by the next heartbeat
// instead of after the kernel's retransmissions (about fifteen minutes).
func userTimeoutControl(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		}); err != nil {
			return err
		}
		return serr
	}
}
