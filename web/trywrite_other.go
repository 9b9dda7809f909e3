//go:build !unix

package web

// tryWrites tells that writeFD cannot write here.
const tryWrites = false

// writeFD writes nothing: without a portable write that never waits,
// streams on these systems take no turns (see rawStream.tryWrite).
func (s *rawStream) writeFD(uintptr) bool {
	s.tried = 0
	return true
}
