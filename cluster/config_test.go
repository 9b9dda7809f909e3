package cluster_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  cluster.Config
		want []string // each must appear in the error; none: valid
	}{
		{"remote", cluster.Config{URLs: "nats://a:4222, tls://b:4222"}, nil},
		{"embedded", cluster.Config{URLs: "embedded", DataDir: "/tmp/x"}, nil},
		{"short max age takes a shorter window", cluster.Config{URLs: "nats://a:4222", MaxAge: time.Minute}, nil},
		{"no URLs", cluster.Config{}, []string{"URLs"}},
		{"bad URL", cluster.Config{URLs: "nats://a:4222,http://b"}, []string{`URLs "http://b"`}},
		{"embedded without dir", cluster.Config{URLs: "embedded"}, []string{"DataDir"}},
		{"dir without embedded", cluster.Config{URLs: "nats://a:4222", DataDir: "/x"}, []string{"DataDir"}},
		{"listen without embedded", cluster.Config{URLs: "nats://a:4222", EmbeddedListen: ":4222"}, []string{"EmbeddedListen"}},
		{"bad listen", cluster.Config{URLs: "embedded", DataDir: "/x", EmbeddedListen: "4222"}, []string{"EmbeddedListen"}},
		{"embedded replicas", cluster.Config{URLs: "embedded", DataDir: "/x", Replicas: 3}, []string{"Replicas 3"}},
		{"embedded auth", cluster.Config{URLs: "embedded", DataDir: "/x", Token: "t"}, []string{"remote NATS only"}},
		{"replicas", cluster.Config{URLs: "nats://a:4222", Replicas: 2}, []string{"Replicas 2"}},
		{"stream", cluster.Config{URLs: "nats://a:4222", Stream: "a.b"}, []string{`Stream "a.b"`}},
		{"prefix", cluster.Config{URLs: "nats://a:4222", SubjectPrefix: "a.*"}, []string{`SubjectPrefix "a.*"`}},
		{"prefix empty token", cluster.Config{URLs: "nats://a:4222", SubjectPrefix: "a..b"}, []string{"SubjectPrefix"}},
		{"two auths", cluster.Config{URLs: "nats://a:4222", Token: "t", CredsFile: "c"}, []string{"one way"}},
		{"password alone", cluster.Config{URLs: "nats://a:4222", Password: "p"}, []string{"User"}},
		{"cert alone", cluster.Config{URLs: "nats://a:4222", CertFile: "c"}, []string{"CertFile/KeyFile"}},
		{"window", cluster.Config{URLs: "nats://a:4222", MaxAge: time.Minute, DuplicateWindow: time.Hour}, []string{"DuplicateWindow 1h0m0s"}},
		{"negative", cluster.Config{URLs: "nats://a:4222", PublishTimeout: -1, ReconnectWait: -1}, []string{"PublishTimeout", "ReconnectWait"}},
		{"reconnect order", cluster.Config{URLs: "nats://a:4222", ReconnectWait: time.Minute}, []string{"ReconnectMaxWait"}},
		{"all at once", cluster.Config{URLs: "embedded", Replicas: 2, Stream: "a b"}, []string{"DataDir", "Replicas 2", "Stream"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", c.cfg)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestConfigFieldErrors checks that each problem Validate finds is a
// *FieldError naming its fields, so that a program can word it in its own
// names.
func TestConfigFieldErrors(t *testing.T) {
	t.Parallel()
	err := cluster.Config{URLs: "embedded", Replicas: 3, CertFile: "c.pem"}.Validate()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate: %v, want joined errors", err)
	}
	var got [][]string
	for _, e := range j.Unwrap() {
		var fe *cluster.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		got = append(got, fe.Fields)
	}
	for _, want := range [][]string{{"CertFile", "KeyFile"}, {"URLs"}, {"DataDir"}, {"Replicas"}} {
		if !slices.ContainsFunc(got, func(f []string) bool { return slices.Equal(f, want) }) {
			t.Errorf("fields %v lack %v", got, want)
		}
	}
}
