package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// The topic view: a page of the dashboard, at /dashboard/topics/TOPIC,
// that shows one topic live: its subscribers, presence, retained state
// and last events. The page follows the reserved topic
// "$hubd/topic/TOPIC", to which RunStats publishes the view every
// interval while anyone follows it. Following it takes the right to
// subscribe to TOPIC itself (see authorizeSubscribe), and the page
// checks that right before it shows anything.

// viewPrefix starts the reserved topic a topic view follows.
const viewPrefix = "$hubd/topic/"

// viewPagePath starts the path of a topic view's page.
const viewPagePath = "/dashboard/topics/"

// viewEvents is how many of a topic's newest events its view shows.
const viewEvents = 20

// topicViewPath is the path of topic's view.
func topicViewPath(topic string) string {
	return viewPagePath + strings.ReplaceAll(url.PathEscape(topic), "%2F", "/")
}

// viewedTopic returns the topic that a view's reserved topic shows.
func viewedTopic(name string) (string, bool) { return strings.CutPrefix(name, viewPrefix) }

// topicView is what the view shows of a topic.
type topicView struct {
	Topic       string
	Subscribers int // on this node
	Present     int // on every node of the cluster
	History     int
	Clustered   bool
	Signals     string   // the retained signals, indented JSON, or ""
	Elements    []string // the retained element patches, as Datastar gets them
	Events      []viewEvent
}

// viewEvent is one event of a topic view: its ID, its kind, and its
// data lines as Datastar reads them.
type viewEvent struct {
	ID, Kind, Data string
}

// topicViewOf reads topic's view from the hub.
func (s *Server) topicViewOf(topic string) topicView {
	info := s.hub.Topic(topic)
	v := topicView{Topic: topic, Subscribers: info.Subscribers, Present: s.hub.Presence(topic),
		History: info.History, Clustered: s.hub.Clustered()}
	if signals := s.hub.RetainedSignals(topic); signals != nil {
		var out bytes.Buffer
		if json.Indent(&out, signals, "", "  ") == nil {
			v.Signals = out.String()
		}
	}
	for _, e := range s.hub.RetainedElements(topic) {
		v.Elements = append(v.Elements, parseFrame(e).Data)
	}
	for _, e := range s.hub.Recent(topic, viewEvents, false) {
		v.Events = append(v.Events, parseFrame(e.Frame))
	}
	return v
}

// parseFrame reads one encoded event of the hub's: its id, its kind
// (from its event type) and its data lines, joined with line breaks.
func parseFrame(frame []byte) viewEvent {
	var ev viewEvent
	var data []string
	for line := range strings.SplitSeq(strings.TrimRight(string(frame), "\n"), "\n") {
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Kind = strings.TrimPrefix(value, "datastar-")
		case "data":
			data = append(data, value)
		}
	}
	ev.Data = strings.Join(data, "\n")
	return ev
}

// renderView renders v as the element the topic view patches.
func renderView(v topicView) string {
	var b strings.Builder
	if err := pages["topic.html"].ExecuteTemplate(&b, "view", v); err != nil {
		panic(err) // the template and its data are ours
	}
	return b.String()
}

// publishTopicViews publishes the view of every topic that a topic view
// on this node follows, and the time of the view (the viewAt signal,
// "15:04:05" UTC), as of now.
func (s *Server) publishTopicViews(ctx context.Context, now time.Time) {
	at := fmt.Appendf(nil, `{"viewAt":%q}`, now.UTC().Format(time.TimeOnly))
	for _, name := range s.hub.Followed(viewPrefix) {
		topic, _ := viewedTopic(name)
		if hub.ValidateTopic(topic) != nil {
			continue // no view to show; the page said why
		}
		if _, err := s.hub.PublishTransient([]string{name}, sse.PatchElements{Elements: renderView(s.topicViewOf(topic))},
			sse.PatchSignals{Signals: at}); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "publish topic view", slog.String("topic", topic), slog.Any("err", err))
		}
	}
}

// topicPage is what the topic view's page template gets.
type topicPage struct {
	View   topicView
	Stream string // the path the page follows
	Error  string // why the view cannot be shown, if it cannot
}

// handleTopicPage serves a topic's view: the view as it is now, and a
// stream that keeps it current. Without the right to subscribe to the
// topic the page says so, with the status of the refusal.
func (s *Server) handleTopicPage(w http.ResponseWriter, r *http.Request) {
	topic, err := s.viewRequest(r)
	d := pageData{Title: topic, Nav: "dashboard"}
	if err != nil {
		status, msg := http.StatusBadRequest, err.Error()
		var api *apiError
		if errors.As(err, &api) {
			status, msg = api.Status, api.Msg
		}
		d.Topic = topicPage{View: topicView{Topic: topic}, Error: msg}
		s.renderStatus(w, r, status, "topic.html", d)
		return
	}
	d.Topic = topicPage{View: s.topicViewOf(topic), Stream: "/topics/" + url.PathEscape(viewPrefix+topic)}
	s.render(w, r, "topic.html", d)
}

// viewRequest returns the topic whose view r asks for, and an error if
// it names none that has a view or r may not follow it.
func (s *Server) viewRequest(r *http.Request) (string, error) {
	topic, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), viewPagePath))
	if err != nil {
		return topic, err
	}
	if err := hub.ValidateTopic(topic); err != nil {
		return topic, badField("topic", err)
	}
	if hub.Reserved(topic) {
		return topic, badField("topic", fmt.Errorf("%q is one of the hub's own topics, which have no view", topic))
	}
	_, err = s.authorizeSubscribe(r, []string{viewPrefix + topic})
	return topic, err
}

// handleTopicForm takes the dashboard's "open a topic" form to the
// topic's view.
func (s *Server) handleTopicForm(w http.ResponseWriter, r *http.Request) {
	topic := strings.TrimSpace(r.URL.Query().Get("topic"))
	if topic == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, topicViewPath(topic), http.StatusSeeOther)
}
