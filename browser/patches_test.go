package browser_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// kindsPage follows one topic with the official client and holds a target
// for every patch kind. s() reads the page's signals as data-json-signals
// shows them; ids(sel) lists the ids of the children of sel.
const kindsPage = `
<div data-signals="{a: 1, nested: {b: 'x'}, keep: 'k'}" data-init="@get('/topics/browser/kinds')"></div>
<pre id="signals" data-json-signals></pre>
<div id="outer-t" class="old">outer old</div>
<div id="inner-t"><i>inner old</i></div>
<div id="replace-t">replace old</div>
<ul id="list"><li id="mid">mid</li></ul>
<p id="gone">to be removed</p>
<svg id="svg" width="10" height="10"></svg>
<script>
window.s = () => JSON.parse(document.getElementById("signals").textContent);
window.ids = (sel) => [...document.querySelector(sel).children].map((e) => e.id).join(",");
window.refs = {outer: document.getElementById("outer-t"), replace: document.getElementById("replace-t")};
window.transitions = 0;
window.vtIdle = true;
// Datastar 1.0.2 starts its view transitions on the root element. The test
// waits for one to finish (vtIdle) before it publishes the next: a
// transition started while another runs makes Chromium skip the first,
// and the client leaves that rejection unhandled.
if (document.documentElement.startViewTransition) {
  const root = document.documentElement, start = root.startViewTransition.bind(root);
  root.startViewTransition = (update) => {
    window.transitions++;
    window.vtIdle = false;
    const vt = start(update);
    vt.finished.finally(() => { window.vtIdle = true; });
    return vt;
  };
}
</script>
`

// TestEveryPatchKind: a user page follows a topic with the official client,
// and a back end publishes every kind of event hubd takes over HTTP: HTML
// in every patch mode, with a view transition and in the SVG namespace
// (options as Datastar-* headers and as query parameters), signals
// (merged, removed with null, only if missing), scripts (run once and
// removed, or kept with attributes), and a batch of all three kinds
// through POST /publish. After each, the page's DOM or signals are what
// Datastar makes of that event.
func TestEveryPatchKind(t *testing.T) {
	const topic = "browser/kinds"
	srv, _, h := newClientServer(t, web.Config{}, map[string]string{"/kinds": datastarPage("/datastar.js", kindsPage)})
	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)
	open(t, ctx, srv.URL+"/kinds")
	waitSubscribers(t, h, topic, 1)

	query := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "?" + v.Encode()
	}
	// Each case publishes in order on the one page: later ones build on
	// what the earlier ones did.
	cases := []struct {
		name, contentType, body string
		query                   string   // appended to the topic's URL
		headers                 []string // name, value, ...
		done                    string   // JavaScript: true once the page shows the event's effect
	}{
		{"outer by id, no options", "text/html", `<div id="outer-t" class="new">outer new</div>`, "", nil,
			// Morphed: the same element, with the new attributes and content.
			`document.getElementById("outer-t") === refs.outer && refs.outer.className === "new" && refs.outer.textContent === "outer new"`},
		{"outer by header", "text/html", `<div id="outer-t" class="newer">outer newer</div>`, "",
			[]string{"Datastar-Mode", "outer", "Datastar-Selector", "#outer-t"},
			`document.getElementById("outer-t") === refs.outer && refs.outer.className === "newer"`},
		{"inner by query", "text/html", `<b>inner new</b>`, query("mode", "inner", "selector", "#inner-t"), nil,
			`document.getElementById("inner-t").innerHTML === "<b>inner new</b>"`},
		{"replace by header", "text/html", `<div id="replace-t" class="replaced">replaced</div>`, "",
			[]string{"Datastar-Mode", "replace", "Datastar-Selector", "#replace-t"},
			// Replaced: a new element, the old one gone from the page.
			`!refs.replace.isConnected && document.getElementById("replace-t").className === "replaced"`},
		{"prepend by query", "text/html", `<li id="first">first</li>`, query("mode", "prepend", "selector", "#list"), nil,
			`ids("#list") === "first,mid"`},
		{"append by header", "text/html", `<li id="last">last</li>`, "",
			[]string{"Datastar-Mode", "append", "Datastar-Selector", "#list"},
			`ids("#list") === "first,mid,last"`},
		{"before by query", "text/html", `<li id="before-mid">before</li>`, query("mode", "before", "selector", "#mid"), nil,
			`ids("#list") === "first,before-mid,mid,last"`},
		{"after by header", "text/html", `<li id="after-mid">after</li>`, "",
			[]string{"Datastar-Mode", "after", "Datastar-Selector", "#mid"},
			`ids("#list") === "first,before-mid,mid,after-mid,last"`},
		{"remove by header", "text/html", "", "",
			[]string{"Datastar-Mode", "remove", "Datastar-Selector", "#gone"},
			`document.getElementById("gone") === null`},
		{"remove by query", "text/html", "", query("mode", "remove", "selector", "#after-mid"), nil,
			`ids("#list") === "first,before-mid,mid,last"`},
		{"append with a view transition, by header", "text/html", `<li id="vt">vt</li>`, "",
			[]string{"Datastar-Mode", "append", "Datastar-Selector", "#list", "Datastar-Use-View-Transition", "true"},
			`ids("#list") === "first,before-mid,mid,last,vt" && window.transitions === 1 && window.vtIdle`},
		{"remove with a view transition, by query", "text/html", "",
			query("mode", "remove", "selector", "#vt", "useViewTransition", "true"), nil,
			`ids("#list") === "first,before-mid,mid,last" && window.transitions === 2 && window.vtIdle`},
		{"svg namespace by query", "text/html", `<circle id="dot" r="4" cx="5" cy="5"></circle>`,
			query("mode", "append", "selector", "#svg", "namespace", "svg"), nil,
			`document.getElementById("dot")?.namespaceURI === "http://www.w3.org/2000/svg"`},
		{"signals merged", "application/json", `{"a": 2, "nested": {"c": true}}`, "", nil,
			`s().a === 2 && s().nested.b === "x" && s().nested.c === true && s().keep === "k"`},
		{"signals removed by null", "application/json", `{"a": null, "nested": {"b": null}}`, "", nil,
			`!("a" in s()) && !("b" in s().nested) && s().nested.c === true`},
		{"signals only if missing, by header", "application/json", `{"keep": "changed", "fresh": 1}`, "",
			[]string{"Datastar-Only-If-Missing", "true"},
			`s().keep === "k" && s().fresh === 1`},
		{"signals only if missing, by query", "application/json", `{"fresh": 2, "fresher": 3}`, query("onlyIfMissing", "true"), nil,
			`s().fresh === 1 && s().fresher === 3`},
		{"script, run and removed", "text/javascript", `window.ran = (window.ran || 0) + 1;`, "", nil,
			`window.ran === 1 && [...document.scripts].every((e) => !e.textContent.includes("window.ran"))`},
		{"script kept, with attributes by header", "text/javascript", `window.kept = document.currentScript.dataset.who;`, "",
			[]string{"Datastar-Keep-Script", "true", "Datastar-Script-Attributes", `{"id": "kept", "data-who": "hubd"}`},
			`window.kept === "hubd" && document.getElementById("kept")?.tagName === "SCRIPT"`},
		{"script kept, with attributes by query", "text/javascript", `window.kept2 = document.currentScript.id;`,
			query("keepScript", "true", "attributes", `{"id": "kept2"}`), nil,
			`window.kept2 === "kept2" && document.getElementById("kept2")?.tagName === "SCRIPT"`},
	}
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			publish(t, srv, topic+c.query, c.contentType, c.body, c.headers...)
			waitFor(t, ctx, 5*time.Second, c.done)
		})
		if !ok {
			t.FailNow() // the cases after it expect its effect
		}
	}

	// A batch (POST /publish) of one event of each kind arrives whole,
	// in order: the script sees the element and the signal before it.
	t.Run("batch", func(t *testing.T) {
		batch := `{"topics": ["` + topic + `"], "events": [
			{"type": "patchElements", "elements": "<li id=\"batched\">batched</li>", "selector": "#list", "mode": "append"},
			{"type": "patchSignals", "signals": {"batched": true}},
			{"type": "executeScript", "script": "window.sawBatch = document.getElementById('batched') !== null && s().batched === true;"}]}`
		resp, err := srv.Client().Post(srv.URL+"/publish", "application/json", strings.NewReader(batch))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("batch publish: %s", resp.Status)
		}
		waitFor(t, ctx, 5*time.Second, `window.sawBatch !== undefined`)
		if !eval[bool](t, ctx, "window.sawBatch") {
			t.Errorf("the batch's script ran before its element and signal were in the page")
		}
		if got := eval[string](t, ctx, `ids("#list")`); got != "first,before-mid,mid,last,batched" {
			t.Errorf("list ids %s after the batch", got)
		}
	})

	// Once all have arrived, in order: the scripts ran once each, and the
	// signals are exactly what the patches made of them.
	if got := eval[int](t, ctx, "window.ran"); got != 1 {
		t.Errorf("the first script ran %d times, want once", got)
	}
	want := map[string]any{"nested": map[string]any{"c": true}, "keep": "k", "fresh": 1.0, "fresher": 3.0, "batched": true}
	if got := jsonText(t, ctx, "#signals"); !reflect.DeepEqual(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
	noProblems(t, ctx, problems)
}
