// Package browser holds hubd's real-browser tests: headless Chromium,
// driven with chromedp, loads pages from a hub served in the test. Some
// tests subscribe with EventSource and check the stream's wire format as
// a browser reads it; the others run the official Datastar v1.0.2 client
// (served by the hub at /datastar.js from ../shared/datastar, or from
// $HUBD_DATASTAR_JS) on the dashboard, the demos and user pages, and check
// what the page shows. It has no non-test code. The tests skip when
// Chromium or the client bundle is missing, except under CI=true, where
// they fail.
package browser
