//go:build !unix

package web

import "net"

// descriptor returns -1: without a portable write that never waits,
// streams on these systems take no turns (see rawStream.tryWrite).
func descriptor(net.Conn) int { return -1 }

// writeNow writes nothing; it is never called here.
func writeNow(int, []byte) int { return 0 }
