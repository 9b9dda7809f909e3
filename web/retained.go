package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hubd-dev/hubd/hub"
)

// retainOption reads whether a publish asks to be retained: the
// Hubd-Retain header, the retain parameter, or inBody (a batch's own
// field).
func retainOption(r *http.Request, inBody bool) (bool, error) {
	retain, err := boolOption(r, "Hubd-Retain", "retain")
	if err != nil {
		return false, err
	}
	return retain || inBody, nil
}

// retainError gives the hub's retained-state errors their status and
// field: 413 for a topic's bound, 507 for the total bound, 400 for an
// event that cannot be retained. Other errors pass through.
func retainError(err error) error {
	switch {
	case errors.Is(err, hub.ErrRetainedTopicFull):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Field: "retain", Err: err,
			Msg: "retain: the topic's retained state would exceed its bound; nothing was published: " + err.Error()}
	case errors.Is(err, hub.ErrRetainedFull):
		return &apiError{Status: http.StatusInsufficientStorage, Field: "retain", Err: err,
			Msg: "retain: the hub's retained state would exceed its bound; nothing was published: " + err.Error()}
	case errors.Is(err, hub.ErrRetainScript), errors.Is(err, hub.ErrRetainTarget):
		return &apiError{Status: http.StatusBadRequest, Field: "retain", Err: err, Msg: "retain: " + err.Error()}
	}
	return err
}

// retainedSuffix ends the path of DELETE /topics/{topic}/retained.
const retainedSuffix = "/retained"

// handleDeleteRetained clears a topic's retained state: DELETE
// /topics/{topic}/retained, with the authorization a publish to the topic
// needs. It answers 204 whether or not the topic held any.
func (s *Server) handleDeleteRetained(w http.ResponseWriter, r *http.Request) {
	path, err := pathTopic(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	topic, ok := strings.CutSuffix(path, retainedSuffix)
	if !ok {
		writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Field: "topic",
			Msg: fmt.Sprintf("method DELETE not allowed on %s: only /topics/{topic}/retained can be deleted", r.URL.Path)})
		return
	}
	p, err := s.admitPublisher(r, 1)
	if err == nil {
		err = authorizePublish(p, []string{topic}, func(int) string { return "topic" })
	}
	if err == nil {
		err = checkReserved(topic)
	}
	if err == nil {
		_, err = s.hub.ClearRetained(r.Context(), topic)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
