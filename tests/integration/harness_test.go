package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

// pdAddrsEnv names the variables that point the suites at a real cluster,
// in the order they are read.
var pdAddrsEnv = []string{"TIKV_PD_ADDRS", "TIKVGO_PD_ADDRS"}

// realPDAddrs returns the PD addresses of the cluster to test against, or
// nil for the embedded mock.
func realPDAddrs() []string {
	for _, name := range pdAddrsEnv {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			var addrs []string
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					addrs = append(addrs, a)
				}
			}
			return addrs
		}
	}
	return nil
}

// runID tells this run's keys from every other run's on a shared cluster.
var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d-%s", time.Now().Unix(), hex.EncodeToString(b))
}()

// env is one test's view of the cluster under test.
type env struct {
	t       *testing.T
	cluster *tikv.Cluster
	// mock is the embedded cluster, nil against a real one.
	mock *mocktikv.Cluster
	// prefix starts every key the test writes: unique to the run and the
	// test, and different for raw and transactional keys, which must not
	// share a range under API V1.
	rawPrefix, txnPrefix []byte
	// usedTxn says the test made a transactional client: only then is
	// there a transactional range to clean (V1TTL storage refuses
	// transactional requests).
	usedTxn bool
}

// setup connects to the cluster under test: TIKV_PD_ADDRS's, or a fresh
// embedded mocktikv with three stores built with mockOpts. The connection
// is closed when the test ends, after the test's keys are deleted.
func setup(t *testing.T, mockOpts ...mocktikv.Option) *env {
	t.Helper()
	e := &env{t: t}
	addrs := realPDAddrs()
	if addrs == nil {
		e.mock = mocktikv.Start(t, append([]mocktikv.Option{mocktikv.WithStores(3)}, mockOpts...)...)
		addrs = e.mock.PDAddrs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tikv.Connect(ctx, addrs)
	if err != nil {
		t.Fatalf("connect to %v: %v", addrs, err)
	}
	e.cluster = c
	name := strings.ReplaceAll(t.Name(), "/", "_")
	e.rawPrefix = fmt.Appendf(nil, "tikvgo-it-raw/%s/%s/", runID, name)
	e.txnPrefix = fmt.Appendf(nil, "tikvgo-it-txn/%s/%s/", runID, name)
	t.Cleanup(func() {
		e.cleanup()
		if err := c.Close(); err != nil {
			t.Errorf("close the cluster connection: %v", err)
		}
	})
	return e
}

// connect opens another connection to the cluster under test, with opts;
// it is closed when the test ends.
func (e *env) connect(opts ...tikv.Option) *tikv.Cluster {
	e.t.Helper()
	addrs := realPDAddrs()
	if e.mock != nil {
		addrs = e.mock.PDAddrs()
	}
	c, err := tikv.Connect(e.ctx(), addrs, opts...)
	if err != nil {
		e.t.Fatalf("connect to %v: %v", addrs, err)
	}
	e.t.Cleanup(func() {
		if err := c.Close(); err != nil {
			e.t.Errorf("close the cluster connection: %v", err)
		}
	})
	return c
}

// needMock skips the test against a real cluster, saying why it needs the
// embedded one, and returns the mock.
func (e *env) needMock(why string) *mocktikv.Cluster {
	e.t.Helper()
	if e.mock == nil {
		e.t.Skipf("needs the embedded mocktikv (%s); TIKV_PD_ADDRS points at a real cluster", why)
	}
	return e.mock
}

// rawKey and txnKey return the test's key named s.
func (e *env) rawKey(s string) []byte { return append(bytes.Clone(e.rawPrefix), s...) }
func (e *env) txnKey(s string) []byte { return append(bytes.Clone(e.txnPrefix), s...) }

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ctx returns a context bounded well inside the test timeout, so a hung
// call fails the test with a message instead of the whole binary.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// raw returns a raw client; atomic mode, which CompareAndSwap needs, when
// asked.
func (e *env) raw(opts ...raw.Option) *raw.Client { return raw.NewClient(e.cluster, opts...) }

// txn returns a transactional client closed when the test ends.
func (e *env) txn(opts ...txn.Option) *txn.Client {
	e.usedTxn = true
	c := txn.NewClient(e.cluster, opts...)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			e.t.Errorf("close the txn client: %v", err)
		}
	})
	return c
}

// cleanup deletes every key the test wrote, raw and transactional.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := raw.NewClient(e.cluster).DeleteRange(ctx, e.rawPrefix, prefixEnd(e.rawPrefix)); err != nil {
		e.t.Errorf("clean up raw keys under %q: %v", e.rawPrefix, err)
	}
	if !e.usedTxn {
		return
	}
	tc := txn.NewClient(e.cluster)
	defer tc.Close(ctx)
	if _, err := tc.DeleteRange(ctx, e.txnPrefix, prefixEnd(e.txnPrefix)); err != nil {
		e.t.Errorf("clean up transactional keys under %q: %v", e.txnPrefix, err)
	}
}
