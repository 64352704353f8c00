package clientgo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/oracle"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
	"github.com/tikv/client-go/v2/tikvrpc"
	"github.com/tikv/client-go/v2/txnkv"
	"github.com/tikv/client-go/v2/txnkv/transaction"
)

func rawReq(t *testing.T, cli *txnkv.Client, key []byte, cmd tikvrpc.CmdType, req interface{}) *tikvrpc.Response {
	ctx, cancel := ctx10()
	defer cancel()
	bo := tikv.NewBackofferWithVars(ctx, 5000, nil)
	for i := 0; ; i++ {
		loc, err := cli.GetRegionCache().LocateKey(bo, key)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.SendReq(bo, tikvrpc.NewRequest(cmd, req), loc.Region, 5*time.Second)
		if err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
		if re, _ := resp.GetRegionError(); re != nil && i < 5 {
			t.Logf("retrying %v after region error: %v", cmd, re)
			continue
		}
		return resp
	}
}

func TestTxnLocksAndReads(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatalf("txnkv.NewClient: %v", err)
	}
	defer cli.Close()
	put := func(t *testing.T, kvs ...string) {
		txn, _ := cli.Begin()
		for i := 0; i < len(kvs); i += 2 {
			txn.Set(k(kvs[i]), []byte(kvs[i+1]))
		}
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	get := func(t *testing.T, key string) ([]byte, error) {
		txn, _ := cli.Begin()
		ctx, cancel := ctx10()
		defer cancel()
		e, err := txn.Get(ctx, k(key))
		return e.Value, err
	}
	ctx0, c0 := ctx10()
	defer c0()
	if _, err := cli.SplitRegions(ctx0, [][]byte{k("x5")}, false, nil); err != nil {
		t.Fatalf("split: %v", err)
	}

	t.Run("ResolveAsyncCommitLocks", func(t *testing.T) {
		// Abandoned async-commit txn with all locks prewritten: a reader must commit it (CheckSecondaryLocks).
		ctx, cancel := ctx10()
		defer cancel()
		pk, sk := k("x1"), k("x9") // different regions
		startTS, _ := cli.GetTimestamp(ctx)
		minCommit := startTS + 1
		for _, key := range [][]byte{pk, sk} {
			r := rawReq(t, cli, key, tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{
				Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key, Value: []byte("async")}},
				PrimaryLock: pk, StartVersion: startTS, LockTtl: 100, TxnSize: 2,
				UseAsyncCommit: true, Secondaries: func() [][]byte {
					if string(key) == string(pk) {
						return [][]byte{sk}
					}
					return nil
				}(), MinCommitTs: minCommit, MaxCommitTs: startTS + (1 << 30),
			}).Resp.(*kvrpcpb.PrewriteResponse)
			if r.RegionError != nil || len(r.Errors) > 0 {
				t.Fatalf("prewrite %q: %v %v", key, r.RegionError, r.Errors)
			}
			t.Logf("prewrite %q min_commit_ts=%d", key, r.MinCommitTs)
		}
		time.Sleep(300 * time.Millisecond)
		v, err := get(t, "x9")
		if err != nil || string(v) != "async" {
			t.Fatalf("Get secondary: %q %v", v, err)
		}
		v, err = get(t, "x1")
		if err != nil || string(v) != "async" {
			t.Fatalf("Get primary: %q %v", v, err)
		}
	})
	t.Run("ResolveSecondaryOfCommittedTxn", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		pk, sk := k("x2"), k("x8")
		startTS, _ := cli.GetTimestamp(ctx)
		for _, key := range [][]byte{pk, sk} {
			r := rawReq(t, cli, key, tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{
				Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key, Value: []byte("2pc")}},
				PrimaryLock: pk, StartVersion: startTS, LockTtl: 20000, TxnSize: 2,
			}).Resp.(*kvrpcpb.PrewriteResponse)
			if r.RegionError != nil || len(r.Errors) > 0 {
				t.Fatalf("prewrite: %v %v", r.RegionError, r.Errors)
			}
		}
		commitTS, _ := cli.GetTimestamp(ctx)
		cr := rawReq(t, cli, pk, tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: startTS, Keys: [][]byte{pk}, CommitVersion: commitTS}).Resp.(*kvrpcpb.CommitResponse)
		if cr.RegionError != nil || cr.Error != nil {
			t.Fatalf("commit primary: %v %v", cr.RegionError, cr.Error)
		}
		start := time.Now()
		v, err := get(t, "x8")
		if err != nil || string(v) != "2pc" {
			t.Fatalf("Get secondary: %q %v", v, err)
		}
		t.Logf("secondary resolved in %v", time.Since(start))
	})
	t.Run("Deadlock", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		t1, _ := cli.Begin()
		t1.SetPessimistic(true)
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		if err := t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now()), k("dl-a")); err != nil {
			t.Fatal(err)
		}
		if err := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), kv.LockAlwaysWait, time.Now()), k("dl-b")); err != nil {
			t.Fatal(err)
		}
		e1 := make(chan error, 1)
		go func() {
			e1 <- t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), 8000, time.Now()), k("dl-b"))
		}()
		time.Sleep(200 * time.Millisecond)
		err2 := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), 8000, time.Now()), k("dl-a"))
		var dl *tikverr.ErrDeadlock
		if errors.As(err2, &dl) {
			t.Logf("t2 got deadlock: %v", err2)
			t2.Rollback()
			// TiKV legacy wake-up: the woken waiter gets WriteConflict(PessimisticRetry) even when the holder rolled back.
			if err := <-e1; err != nil && !tikverr.IsErrWriteConflict(err) {
				t.Fatalf("t1 after t2 rollback: %v", err)
			} else {
				t.Logf("t1 woken with: %v", err)
			}
			t1.Rollback()
			return
		}
		t.Fatalf("t2 expected ErrDeadlock, got %v (ctx err %v)", err2, ctx.Err())
	})
	t.Run("TxnHeartBeat", func(t *testing.T) {
		old := atomic.LoadUint64(&transaction.ManagedLockTTL)
		atomic.StoreUint64(&transaction.ManagedLockTTL, 1000)
		defer atomic.StoreUint64(&transaction.ManagedLockTTL, old)
		ctx, cancel := ctx10()
		defer cancel()
		t1, _ := cli.Begin()
		t1.SetPessimistic(true)
		if err := t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now()), k("hb")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond) // > TTL; heartbeat (every 500ms) must keep it alive
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		ts, _ := cli.GetTimestamp(ctx)
		err := t2.LockKeys(ctx, kv.NewLockCtx(ts, kv.LockNoWait, time.Now()), k("hb"))
		if err == nil {
			t.Fatalf("t2 acquired lock: t1's lock expired despite heartbeat")
		}
		t.Logf("t2 err (expected lock held): %v", err)
		t1.Set(k("hb"), []byte("t1"))
		if err := t1.Commit(ctx); err != nil {
			t.Fatalf("t1 commit: %v", err)
		}
		t2.Rollback()
	})
	t.Run("LargeTxnManyKeys", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		txn, _ := cli.Begin()
		val := make([]byte, 1024)
		for i := 0; i < 5000; i++ {
			txn.Set(k(fmt.Sprintf("x%05d", i)), val)
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("commit 5000 keys: %v", err)
		}
		snap := cli.GetSnapshot(txn.CommitTS())
		it, err := snap.Iter(k("x0"), k("x1"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it.Valid() {
			n++
			it.Next()
		}
		if n != 5000 {
			t.Fatalf("iter got %d", n)
		}
	})
	t.Run("FollowerRead", func(t *testing.T) {
		put(t, "fr", "v")
		ctx, cancel := ctx10()
		defer cancel()
		ts, _ := cli.GetTimestamp(ctx)
		snap := cli.GetSnapshot(ts)
		snap.SetReplicaRead(kv.ReplicaReadFollower)
		e, err := snap.Get(ctx, k("fr"))
		if err != nil || string(e.Value) != "v" {
			t.Fatalf("follower Get: %q %v", e.Value, err)
		}
	})
	t.Run("StaleRead", func(t *testing.T) {
		put(t, "sr", "v")
		time.Sleep(1500 * time.Millisecond)
		ctx, cancel := ctx10()
		defer cancel()
		now, _ := cli.GetTimestamp(ctx)
		ts := oracle.GoTimeToTS(oracle.GetTimeFromTS(now).Add(-1 * time.Second))
		snap := cli.GetSnapshot(ts)
		snap.SetIsStalenessReadOnly(true)
		e, err := snap.Get(ctx, k("sr"))
		if err != nil || string(e.Value) != "v" {
			t.Fatalf("stale Get: %q %v", e.Value, err)
		}
		t.Logf("min safe ts = %d (now %d)", cli.GetMinSafeTS(oracle.GlobalTxnScope), now)
	})
	t.Run("Pipelined", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, err := cli.Begin(tikv.WithDefaultPipelinedTxn())
		if err != nil {
			t.Fatalf("Begin pipelined: %v", err)
		}
		for i := 0; i < 100; i++ {
			txn.Set(k(fmt.Sprintf("pl%03d", i)), []byte("p"))
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("pipelined commit: %v", err)
		}
		if v, err := get(t, "pl050"); err != nil || string(v) != "p" {
			t.Fatalf("Get: %q %v", v, err)
		}
	})
}

func TestV2Keyspace(t *testing.T) {
	addr := os.Getenv("MOCK_PD_V2")
	if addr == "" {
		t.Skip("MOCK_PD_V2 not set")
	}
	ks := os.Getenv("MOCK_KEYSPACE")
	ctx, cancel := ctx10()
	defer cancel()
	t.Run("RawV2", func(t *testing.T) {
		cli, err := rawkv.NewClientWithOpts(ctx, []string{addr}, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace(ks))
		if err != nil {
			t.Fatalf("raw NewClient v2: %v", err)
		}
		defer cli.Close()
		if err := cli.Put(ctx, k("v2"), []byte("x")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if v, err := cli.Get(ctx, k("v2")); err != nil || string(v) != "x" {
			t.Fatalf("Get: %q %v", v, err)
		}
		if err := cli.PutWithTTL(ctx, k("v2ttl"), []byte("x"), 100); err != nil {
			t.Fatalf("PutWithTTL: %v", err)
		}
		ttl, err := cli.GetKeyTTL(ctx, k("v2ttl"))
		if err != nil || ttl == nil {
			t.Fatalf("GetKeyTTL: %v %v", ttl, err)
		}
		cli.SetAtomicForCAS(true)
		if _, ok, err := cli.CompareAndSwap(ctx, k("v2cas"), nil, []byte("1")); err != nil || !ok {
			t.Fatalf("CAS: %v %v", ok, err)
		}
		// Only this test's keys: k("v2") up to k("v2~") (other tests write
		// in the same keyspace).
		ks_, _, err := cli.Scan(ctx, k("v2"), k("v2~"), 10)
		if err != nil || len(ks_) != 3 {
			t.Fatalf("Scan: %q %v", ks_, err)
		}
	})
	t.Run("TxnV2", func(t *testing.T) {
		cli, err := txnkv.NewClient([]string{addr}, txnkv.WithAPIVersion(kvrpcpb.APIVersion_V2), txnkv.WithKeyspace(ks))
		if err != nil {
			t.Fatalf("txn NewClient v2: %v", err)
		}
		defer cli.Close()
		txn, _ := cli.Begin()
		txn.Set(k("t2"), []byte("y"))
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		txn, _ = cli.Begin()
		e, err := txn.Get(ctx, k("t2"))
		if err != nil || string(e.Value) != "y" {
			t.Fatalf("Get: %q %v", e.Value, err)
		}
		if _, err := cli.SplitRegions(ctx, [][]byte{k("t5")}, false, nil); err != nil {
			t.Fatalf("SplitRegions v2: %v", err)
		}
		ts, _ := cli.GetTimestamp(ctx)
		if _, err := cli.GC(ctx, ts); err != nil {
			t.Fatalf("GC v2: %v", err)
		}
	})
}
