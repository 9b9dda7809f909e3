package cluster

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []Message{
		{Topics: []string{"news"}, Data: []byte("event: datastar-patch-elements\ndata: elements <p>hi</p>\n\n")},
		{Topics: []string{"a", "b/c", "d.e"}, Private: true, Data: []byte("x")},
		{Topics: []string{"a"}},
		{Topics: []string{"a", "b"}, Private: true, Retain: true, Data: []byte("y")},
		{Topics: []string{"a"}, ClearRetained: true},
	}
	for _, m := range cases {
		b, err := encodeMessage(m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		if v := messageVersion(m); v != formatVersion1 && !m.Retain && !m.ClearRetained {
			t.Fatalf("%+v is written as version %s; without retained state it must stay readable by version 1 nodes", m, v)
		}
		got, err := decodeMessage(messageVersion(m), b)
		if err != nil {
			t.Fatalf("decode %+v: %v", m, err)
		}
		if !slices.Equal(got.Topics, m.Topics) || got.Private != m.Private || got.Retain != m.Retain ||
			got.ClearRetained != m.ClearRetained || !bytes.Equal(got.Data, m.Data) {
			t.Fatalf("round trip %+v gave %+v", m, got)
		}
	}
}

func TestMessageRefused(t *testing.T) {
	t.Parallel()
	for _, m := range []Message{{}, {Topics: []string{"a", ""}}} {
		if _, err := encodeMessage(m); !errors.Is(err, ErrNoTopics) {
			t.Errorf("encode %+v: %v, want ErrNoTopics", m, err)
		}
	}
	good, err := encodeMessage(Message{Topics: []string{"a"}, Data: []byte("d")})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		version string
		payload []byte
	}{
		"unknown version": {"3", good},
		"retain in v1":    {formatVersion1, append([]byte{flagRetain}, good[1:]...)},
		"clear in v1":     {formatVersion1, append([]byte{flagClear}, good[1:]...)},
		"no version":      {"", good},
		"empty":           {formatVersion, nil},
		"unknown flag":    {formatVersion, append([]byte{8}, good[1:]...)},
		"no topics":       {formatVersion, []byte{0, 0}},
		"count too big":   {formatVersion, []byte{0, 9, 1, 'a'}},
		"topic too long":  {formatVersion, []byte{0, 1, 5, 'a'}},
		"empty topic":     {formatVersion, []byte{0, 1, 0, 'a'}},
	} {
		if m, err := decodeMessage(c.version, c.payload); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: decode gave %+v, %v; want ErrFormat", name, m, err)
		}
	}
}

// FuzzDecodeMessage checks that any payload either decodes to a message
// that encodes back to the same bytes, or gives ErrFormat; never a panic.
func FuzzDecodeMessage(f *testing.F) {
	good, _ := encodeMessage(Message{Topics: []string{"a", "b"}, Private: true, Data: []byte("data: x\n\n")})
	f.Add(good)
	f.Add([]byte{0, 1, 1, 'a'})
	f.Add([]byte{0, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(formatVersion, b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		again, err := encodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		// Uvarints have one shortest form; a longer one decodes too, so
		// compare by meaning when the bytes differ.
		if !bytes.Equal(again, b) {
			m2, err := decodeMessage(formatVersion, again)
			if err != nil || !slices.Equal(m2.Topics, m.Topics) || m2.Private != m.Private || m2.Retain != m.Retain || m2.ClearRetained != m.ClearRetained || !bytes.Equal(m2.Data, m.Data) {
				t.Fatalf("%x decoded to %+v, which encodes to %x", b, m, again)
			}
		}
	})
}
