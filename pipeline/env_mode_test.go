package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// TestRetryRefusesACommandOfTheOtherKeySpace: an Env that routes raw keys
// refuses a transactional command before anything is sent, with an error
// that names both key spaces; the matching command goes through.
func TestRetryRefusesACommandOfTheOtherKeySpace(t *testing.T) {
	c := newFakeCluster()
	env := c.env()
	env.Mode = kv.ModeRaw
	kvGet := Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{Cmd: transport.CmdGet, Idempotent: true, Read: true}
	r, _ := c.Locate(context.Background(), []byte("k"))

	_, err := Retry(env, kvGet)(context.Background(), r, &kvrpcpb.GetRequest{Key: []byte("k")})
	var me *kv.KeyModeError
	if !errors.As(err, &me) || me.CmdMode != kv.ModeTxn || me.EnvMode != kv.ModeRaw || !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("err = %v, want a KeyModeError (txn command, raw env) wrapping ErrInvalidArgument", err)
	}
	if n := len(c.rec.Requests()); n != 0 {
		t.Fatalf("%d attempts sent for a refused command", n)
	}
	if _, err := Retry(env, testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")}); err != nil {
		t.Fatalf("raw command on the raw env: %v", err)
	}
	// A store-level command belongs to no key space and passes either way.
	if err := env.checkMode(transport.CmdStoreSafeTS); err != nil {
		t.Fatalf("store-level command refused: %v", err)
	}
}
