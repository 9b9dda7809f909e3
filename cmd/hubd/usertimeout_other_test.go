//go:build !linux

package main

import (
	"net"
	"testing"
)

func userTimeout(t *testing.T, _ *net.TCPConn) int { t.Skip("Linux only"); return 0 }
