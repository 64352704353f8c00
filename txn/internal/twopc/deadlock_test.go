package twopc_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestCommitDeadLock ports client-go integration_tests/2pc_test.go
// TestCommitDeadLock: two large transactions (heartbeats keep their locks
// alive) write the same two keys in two regions with opposite primaries,
// and each gets its primary locked first (client-go's ScheduleDelay, here
// a Delay fault on the other's prewrite). Each then meets the other's
// lock. Were both to wait for the other, neither would ever finish; the
// older one instead takes the newer one's lock as a write conflict at once
// (client-go's extractKeyErrs) and rolls back, and the newer one, whose
// real resolver waits for the older lock, then commits: exactly one fails.
//
// client-go sets the primary and the size through its test-only
// CommitterProbe (SetPrimaryKey, SetTxnSize); here the Request's Primary
// and 1 MiB values (a lock TTL of 8 s, beyond the test's span) do it.
func TestCommitDeadLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, setup{splits: []string{"m"}})
		resolver := txnlock.New(f.env, f.cluster.Oracle())
		defer resolver.Close()
		committer, err := twopc.New(twopc.Config{Env: f.env, Oracle: f.oracle, Group: f.group, Resolver: resolver,
			Options: twopc.Options{HeartbeatTxnSize: 1}})
		if err != nil {
			t.Fatal(err)
		}
		k1, k2 := []byte("a_deadlock_k1"), []byte("y_deadlock_k2")
		big := func(tag string) []byte { return bytes.Repeat([]byte(tag), 1<<20) }
		muts := func(tag string) []twopc.Mutation {
			return []twopc.Mutation{{Key: k1, Value: big(tag), Op: kvrpcpb.Op_Put}, {Key: k2, Value: big(tag), Op: kvrpcpb.Op_Put}}
		}
		ts1, ts2 := f.ts(), f.ts()
		delay := func(key []byte, startTS uint64) {
			f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: key,
				Match: func(_ uint64, _ transport.Cmd, req transport.Message) bool {
					return req.(*kvrpcpb.PrewriteRequest).StartVersion == startTS
				},
				Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Delay(5 * time.Millisecond))}})
		}
		delay(k1, ts2) // txn2 reaches k1 after txn1 locked it
		delay(k2, ts1) // txn1 reaches k2 after txn2 locked it

		type result struct {
			d   twopc.CommitDetails
			err error
		}
		ch := make(chan result, 2)
		start := time.Now()
		for _, r := range []twopc.Request{
			{StartTS: ts1, Primary: k1, Mutations: muts("1")},
			{StartTS: ts2, Primary: k2, Mutations: muts("2")},
		} {
			go func() {
				d, err := committer.Commit(context.Background(), r)
				ch <- result{d, err}
			}()
		}
		var failed, committed []result
		for range 2 {
			r := <-ch
			if r.err != nil {
				failed = append(failed, r)
			} else {
				committed = append(committed, r)
			}
		}
		if len(failed) != 1 {
			var errs []error
			for _, r := range failed {
				errs = append(errs, r.err)
			}
			t.Fatalf("%d commits failed (%v), want exactly one", len(failed), errs)
		}
		if f, c := failed[0], committed[0]; f.d.StartTS != ts1 || c.d.StartTS != ts2 || !errors.Is(f.err, kv.ErrWriteConflict) {
			t.Fatalf("failed txn %d (%v), committed txn %d; want the older %d to fail with a write conflict", f.d.StartTS, f.err, c.d.StartTS, ts1)
		}
		if c := committed[0]; !bytes.Equal(c.d.Primary, k2) || c.d.LockTTL < 8*time.Second {
			t.Fatalf("committed txn: primary %q, lock ttl %v; want %q and a large txn's TTL", c.d.Primary, c.d.LockTTL, k2)
		}
		if took := time.Since(start); took >= 8*time.Second {
			t.Fatalf("the commits took %v: the newer one waited for the older lock's TTL, not for its rollback", took)
		}
		f.settle()
		for _, k := range [][]byte{k1, k2} {
			v, err := f.get(string(k), 0)
			if err != nil || !strings.HasPrefix(string(v), "22") {
				t.Fatalf("%q = %.8q..., %v; want txn2's value", k, v, err)
			}
		}
	})
}
