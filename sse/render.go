package sse

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Component is anything that renders HTML with a context: a templ
// component (templ.Component) is one, and so is any renderer with this
// method, without this package importing it.
type Component interface {
	Render(ctx context.Context, w io.Writer) error
}

// RenderElements renders c with ctx and returns p carrying the result as
// its elements; p's other options (selector, mode, ...) are kept. A render
// error is returned, wrapped, and nothing is patched.
func RenderElements(ctx context.Context, c Component, p PatchElements) (PatchElements, error) {
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		return PatchElements{}, fmt.Errorf("sse: render elements: %w", err)
	}
	p.Elements = b.String()
	return p, nil
}

// PatchComponent renders c with the stream's context (which ends with the
// stream) and sends it with p's options, as Send(p) would with the
// rendered elements: PatchComponent(c, PatchElements{}) morphs the
// elements by id. A render error is handled as an invalid event: it is
// returned and passed to OnError, and nothing is written.
func (s *Stream) PatchComponent(c Component, p PatchElements) error {
	if err := s.Err(); err != nil {
		return err
	}
	p, err := RenderElements(s.Context(), c, p)
	if err != nil {
		return s.refused(err)
	}
	return s.Send(p)
}

// PatchElementsSeq sends elements, each starting on its own line, as one
// patch with Datastar's default options; see the PatchElementsSeq
// function for other options.
func (s *Stream) PatchElementsSeq(elements ...string) error {
	return s.Send(PatchElementsSeq(PatchElements{}, elements...))
}
