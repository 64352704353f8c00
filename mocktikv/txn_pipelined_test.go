package mocktikv

import (
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// Pipelined DML over both transports: KvFlush writes generation-numbered
// locks (flush.rs), KvBufferBatchGet reads them back
// (Storage::buffer_batch_get), KvCommit publishes the last generation, and
// a pessimistic waiter on a flushed key is woken by that commit.
func TestPipelinedFlush(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			cl := tr.client(t, c)
			ctx := timeout(t)
			flush := func(gen uint64, ms ...*kvrpcpb.Mutation) *kvrpcpb.FlushResponse {
				t.Helper()
				return must(cl(ctx, transport.CmdFlush, &kvrpcpb.FlushRequest{PrimaryKey: []byte("a"), StartTs: 10, Generation: gen, LockTtl: 3000, Mutations: ms}))(t).(*kvrpcpb.FlushResponse)
			}
			read := func(ks ...string) string {
				t.Helper()
				req := &kvrpcpb.BufferBatchGetRequest{Version: 10}
				for _, k := range ks {
					req.Keys = append(req.Keys, []byte(k))
				}
				r := must(cl(ctx, transport.CmdBufferBatchGet, req))(t).(*kvrpcpb.BufferBatchGetResponse)
				if r.Error != nil || r.RegionError != nil {
					t.Fatalf("buffer batch get: %v", r)
				}
				var out []string
				for _, p := range r.Pairs {
					out = append(out, string(p.Key)+"="+string(p.Value))
				}
				return fmt.Sprint(out)
			}
			putM := func(k, v string) *kvrpcpb.Mutation {
				return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(v)}
			}

			eq(t, flush(0, putM("a", "1")).Errors[0].GetAbort() != "", true, "generation 0 is rejected")
			eq(t, len(flush(1, putM("a", "1"), putM("k", "1")).Errors), 0, "flush 1")
			eq(t, len(flush(2, putM("k", "2"), &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte("a")}).Errors), 0, "flush 2")
			eq(t, len(flush(1, putM("k", "stale")).Errors), 0, "a stale generation is ignored")
			eq(t, read("k", "a", "x"), "[a= k=2]", "read back")

			// A pessimistic waiter on a flushed key waits for the commit.
			waiter := hold(t, tr.client(t, c), ctx, lockReq("k", 20, 20, lockOpts{}))
			waitQueued(t, c, 1)
			cm := must(cl(ctx, transport.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: 10, CommitVersion: 15, Keys: [][]byte{[]byte("a"), []byte("k")}}))(t).(*kvrpcpb.CommitResponse)
			eq(t, cm.Error == nil, true, "commit")
			w := <-waiter
			noErr(t, w.err)
			eq(t, w.resp.Errors[0].GetConflict().GetConflictCommitTs(), uint64(15), "the waiter is woken by the commit")

			g := must(cl(ctx, transport.CmdGet, &kvrpcpb.GetRequest{Key: []byte("k"), Version: 30}))(t).(*kvrpcpb.GetResponse)
			eqBytes(t, g.Value, []byte("2"), "committed value")
			eq(t, read("k", "a"), "[]", "nothing buffered after the commit")
		})
	}
}

// TestPipelinedRegionChecks: a flushed key outside the request's region
// aborts the flush like a prewrite; BufferBatchGet answers it as its
// request-level error alone.
func TestPipelinedRegionChecks(t *testing.T) {
	tr := lwTransports[1]
	c := tr.cluster(t)
	must(c.SplitTxn([]byte("m")))(t)
	cl := tr.client(t, c) // addresses the region of "k", left of "m"
	ctx := timeout(t)
	f := must(cl(ctx, transport.CmdFlush, &kvrpcpb.FlushRequest{PrimaryKey: []byte("k"), StartTs: 10, Generation: 1,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte("1")}, {Op: kvrpcpb.Op_Put, Key: []byte("z"), Value: []byte("1")}}}))(t).(*kvrpcpb.FlushResponse)
	eq(t, len(f.Errors) == 1 && f.Errors[0].Abort != "", true, "flush outside the region")
	b := must(cl(ctx, transport.CmdBufferBatchGet, &kvrpcpb.BufferBatchGetRequest{Version: 10, Keys: [][]byte{[]byte("k"), []byte("z")}}))(t).(*kvrpcpb.BufferBatchGetResponse)
	eq(t, b.Error.GetAbort() != "" && len(b.Pairs) == 0, true, "buffer batch get outside the region")
}
