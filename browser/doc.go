// Package browser holds hubd's real-browser tests: headless Chromium,
// driven with chromedp, subscribes with EventSource to a hub served in the
// test, and the tests check what the page receives. It has no non-test
// code. The tests skip when Chromium is not installed, except under
// CI=true, where they fail.
package browser
