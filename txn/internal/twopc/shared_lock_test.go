package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

func sharedLock(k string) twopc.Mutation {
	return twopc.Mutation{Key: []byte(k), Op: kvrpcpb.Op_SharedLock}
}

// TestSharedLockPrimaryRefused ports the RejectSharedLockPrimaryKey case of
// client-go's TestSharedLockCommitterIncompatibilities
// (txnkv/transaction/txn_test.go): a primary that would prewrite a shared
// lock (named as Request.Primary, or the only kind of mutation there is)
// fails Commit with ErrSharedLockPrimary before anything is sent; without
// a Primary, the primary is the first mutation that is no shared lock.
func TestSharedLockPrimaryRefused(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			f := newFixture(t, setup{grpc: grpc})
			for name, req := range map[string]twopc.Request{
				"named":      {Mutations: []twopc.Mutation{sharedLock("a"), put("b", "v")}, Primary: []byte("a")},
				"all shared": {Mutations: []twopc.Mutation{sharedLock("a"), sharedLock("c")}},
			} {
				req.StartTS = f.ts()
				f.log.take()
				_, err := f.committer.Commit(context.Background(), req)
				if !errors.Is(err, twopc.ErrSharedLockPrimary) || !errors.Is(err, kv.ErrInvalidArgument) {
					t.Fatalf("%s: commit = %v, want ErrSharedLockPrimary", name, err)
				}
				if n := len(apis(f.log.take(), transport.CmdPrewrite)); n != 0 {
					t.Fatalf("%s: %d prewrites sent", name, n)
				}
			}
			d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(),
				Mutations: []twopc.Mutation{sharedLock("a"), put("b", "v")}})
			if err != nil {
				t.Fatalf("commit with a shared lock before the first put: %v", err)
			}
			if string(d.Primary) != "b" {
				t.Fatalf("primary %q, want b (a shared lock is never the primary)", d.Primary)
			}
			f.settle()
			f.mustGet("b", "v")
		})
	}
}

// TestSharedLockTurnsOffAsyncCommitAndOnePC ports the
// DisableAsyncCommitAndOnePC case of client-go's
// TestSharedLockCommitterIncompatibilities: with async commit and 1PC on,
// a transaction without a shared lock uses them, one with a shared lock
// commits with two-phase commit and asks TiKV for neither.
func TestSharedLockTurnsOffAsyncCommitAndOnePC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			f := newFixture(t, setup{grpc: grpc, opts: twopc.Options{AsyncCommit: true, OnePC: true}})
			for _, shared := range []bool{false, true} {
				muts := []twopc.Mutation{put("primary-key", "v")}
				if shared {
					muts = append(muts, sharedLock("shared-key"))
				}
				f.log.take()
				d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: muts})
				if err != nil {
					t.Fatalf("shared %v: %v", shared, err)
				}
				if shared != (d.Protocol == twopc.ProtocolTwoPC) {
					t.Fatalf("shared %v: committed with %v", shared, d.Protocol)
				}
				for _, e := range f.log.take() {
					if pw, ok := e.msg.(*kvrpcpb.PrewriteRequest); ok && shared && (pw.UseAsyncCommit || pw.TryOnePc) {
						t.Fatalf("prewrite asks for async commit %v / 1PC %v with a shared lock", pw.UseAsyncCommit, pw.TryOnePc)
					}
				}
				f.settle()
			}
		})
	}
}
