// Package docs holds hubd's user documentation (the Markdown pages beside
// this file) and the test that runs it: every command block of the README
// and of docs/*.md that talks to a local hub is executed against a built
// hubd, and its output is compared with the output block that follows it.
// See CONTRIBUTING.md for how a block is marked.
package docs
