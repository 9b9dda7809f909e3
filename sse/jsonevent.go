package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// JSONEvent is an event described in JSON, in the schema of the Datastar
// SDK test suite: {"type": "patchElements" | "patchSignals" |
// "executeScript", ...options}. It lets programs in any language ask for
// Datastar events, as hubd's batch publish endpoint does.
type JSONEvent struct {
	Type              string          `json:"type"`
	Elements          string          `json:"elements,omitempty"`
	Selector          string          `json:"selector,omitempty"`
	Mode              string          `json:"mode,omitempty"`
	Namespace         string          `json:"namespace,omitempty"`
	UseViewTransition bool            `json:"useViewTransition,omitempty"`
	Signals           json.RawMessage `json:"signals,omitempty"`
	SignalsRaw        *string         `json:"signals-raw,omitempty"` // sent as it is; wins over Signals
	OnlyIfMissing     bool            `json:"onlyIfMissing,omitempty"`
	Script            string          `json:"script,omitempty"`
	Attributes        JSONAttrs       `json:"attributes,omitempty"`
	AutoRemove        *bool           `json:"autoRemove,omitempty"` // default true
	EventID           string          `json:"eventId,omitempty"`
	RetryDuration     int64           `json:"retryDuration,omitempty"` // milliseconds
}

// JSONAttrs reads a JSON object of attribute names and values keeping the
// object's order. Non-string values are written in their JSON form.
type JSONAttrs []Attr

// UnmarshalJSON reads a JSON object into a.
func (a *JSONAttrs) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("attributes must be a JSON object")
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		*a = append(*a, Attr{Name: k.(string), Value: s})
	}
	return nil
}

// MarshalJSON writes a as a JSON object in its order.
func (a JSONAttrs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, at := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(at.Name) // strings always marshal
		v, _ := json.Marshal(at.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Eventer returns the Datastar event j describes. Signals given as a JSON
// value are compacted onto one line; an unknown type or a bad option is an
// error naming it.
func (j *JSONEvent) Eventer() (Eventer, error) {
	if j.RetryDuration < 0 {
		return nil, optionErr("retryDuration", "%d is negative", j.RetryDuration)
	}
	if j.RetryDuration > int64(math.MaxInt64/time.Millisecond) {
		return nil, optionErr("retryDuration", "%d milliseconds is too long (at most %d)", j.RetryDuration, int64(math.MaxInt64/time.Millisecond))
	}
	retry := time.Duration(j.RetryDuration) * time.Millisecond
	switch j.Type {
	case "patchElements":
		mode, err := ParseMode(j.Mode)
		if err != nil {
			return nil, err
		}
		ns, err := ParseNamespace(j.Namespace)
		if err != nil {
			return nil, err
		}
		return PatchElements{
			Elements: j.Elements, Selector: j.Selector, Mode: mode, Namespace: ns,
			UseViewTransition: j.UseViewTransition, ID: j.EventID, Retry: retry,
		}, nil
	case "patchSignals":
		var signals json.RawMessage
		if j.SignalsRaw != nil {
			signals = json.RawMessage(*j.SignalsRaw)
		} else {
			var compact bytes.Buffer
			if err := json.Compact(&compact, j.Signals); err != nil {
				return nil, optionErr("signals", "are not valid JSON: %v", err)
			}
			signals = compact.Bytes()
		}
		return PatchSignals{Signals: signals, OnlyIfMissing: j.OnlyIfMissing, ID: j.EventID, Retry: retry}, nil
	case "executeScript":
		return ExecuteScript{
			Script: j.Script, Attributes: j.Attributes, KeepScript: j.AutoRemove != nil && !*j.AutoRemove,
			ID: j.EventID, Retry: retry,
		}, nil
	case "":
		return nil, optionErr("type", "is missing (want patchElements, patchSignals or executeScript)")
	}
	return nil, optionErr("type", "%q (want patchElements, patchSignals or executeScript)", j.Type)
}
