package cluster_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/hubd-dev/hubd/cluster"
)

// operator is a NATS operator with one account that may use JetStream,
// as a decentralised NATS deployment has them.
type operator struct {
	claims     *jwt.OperatorClaims
	systemPub  string // the server's own account, which JetStream needs
	systemJWT  string
	accountPub string
	accountJWT string
	accountKP  nkeys.KeyPair
}

func newOperator(t *testing.T) operator {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	opub, err := okp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	account := func(name string) (nkeys.KeyPair, string, *jwt.AccountClaims) {
		kp, err := nkeys.CreateAccount()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		c := jwt.NewAccountClaims(pub)
		c.Name = name
		return kp, pub, c
	}
	_, spub, sc := account("SYS")
	sjwt, err := sc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "hubd-test"
	oc.SystemAccount = spub
	if _, err := oc.Encode(okp); err != nil {
		t.Fatal(err)
	}
	akp, apub, ac := account("hubd")
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	return operator{claims: oc, systemPub: spub, systemJWT: sjwt, accountPub: apub, accountJWT: ajwt, accountKP: akp}
}

// creds writes a credentials file for a new user of the account, signed
// by signer (the account's key, or another's to forge one).
func (o operator) creds(t *testing.T, signer nkeys.KeyPair) string {
	t.Helper()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, err := ukp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	uc := jwt.NewUserClaims(upub)
	uc.IssuerAccount = o.accountPub
	ujwt, err := uc.Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := ukp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	file, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hubd.creds")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCredsFile opens the log with a credentials file (cluster-creds) on a
// NATS server in operator mode; a user signed by a key the account does
// not know is refused as an authorization error.
func TestCredsFile(t *testing.T) {
	t.Parallel()
	op := newOperator(t)
	resolver := &server.MemAccResolver{}
	for pub, claims := range map[string]string{op.systemPub: op.systemJWT, op.accountPub: op.accountJWT} {
		if err := resolver.Store(pub, claims); err != nil {
			t.Fatal(err)
		}
	}
	srv := runNATS(t, &server.Options{
		SystemAccount:    op.systemPub,
		TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: resolver,
	})

	stranger, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv)
	cfg.CredsFile = op.creds(t, stranger)
	if _, err := cluster.Open(t.Context(), cfg, nil); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("Open with a user the account never signed = %v; want an authorization error", err)
	}

	cfg.CredsFile = op.creds(t, op.accountKP)
	l := open(t, cfg)
	seq, err := l.Append(t.Context(), msg("creds"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(follow(t, l, 0).await(t, seq)); len(got) != 1 || got[0] != seq {
		t.Errorf("followed %v, want [%d]", got, seq)
	}
}
