package clientgo

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikvrpc"
	"github.com/tikv/client-go/v2/txnkv"
)

func TestTxnAcrossRegions(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatalf("txnkv.NewClient: %v", err)
	}
	defer cli.Close()
	get := func(t *testing.T, key string) ([]byte, error) {
		txn, _ := cli.Begin()
		ctx, cancel := ctx10()
		defer cancel()
		e, err := txn.Get(ctx, k(key))
		return e.Value, err
	}
	t.Run("SplitScatterWait", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		ids, err := cli.SplitRegions(ctx, [][]byte{k("y3"), k("y6")}, true, nil)
		if err != nil {
			t.Fatalf("SplitRegions scatter: %v", err)
		}
		for _, id := range ids {
			if err := cli.WaitScatterRegionFinish(ctx, id, 0); err != nil {
				t.Errorf("WaitScatterRegionFinish(%d): %v", id, err)
			}
		}
		regs, err := cli.GetPDClient().ScanRegions(ctx, k("y"), k("z"), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs {
			t.Logf("region %d leader store %d peers %d", r.Meta.Id, r.Leader.GetStoreId(), len(r.Meta.Peers))
		}
	})
	t.Run("PessimisticAsyncCommitMultiRegion", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		txn.SetPessimistic(true)
		txn.SetEnableAsyncCommit(true)
		keys := [][]byte{k("y1"), k("y4"), k("y8")}
		if err := txn.LockKeys(ctx, kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, time.Now()), keys...); err != nil {
			t.Fatalf("LockKeys: %v", err)
		}
		for _, key := range keys {
			txn.Set(key, []byte("pac"))
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		for _, s := range []string{"y1", "y4", "y8"} {
			if v, err := get(t, s); err != nil || string(v) != "pac" {
				t.Fatalf("Get %s: %q %v", s, v, err)
			}
		}
	})
	t.Run("Pessimistic1PC", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		txn.SetPessimistic(true)
		txn.SetEnable1PC(true)
		if err := txn.LockKeys(ctx, kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, time.Now()), k("y2")); err != nil {
			t.Fatalf("LockKeys: %v", err)
		}
		txn.Set(k("y2"), []byte("p1pc"))
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if v, err := get(t, "y2"); err != nil || string(v) != "p1pc" {
			t.Fatalf("Get: %q %v", v, err)
		}
	})
	t.Run("ResolveExpiredPessimisticLock", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		key := k("y5")
		ts, _ := cli.GetTimestamp(ctx)
		r := rawReq(t, cli, key, tikvrpc.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: key}},
			PrimaryLock: key, StartVersion: ts, ForUpdateTs: ts, LockTtl: 100, IsFirstLock: true, WaitTimeout: -1,
		}).Resp.(*kvrpcpb.PessimisticLockResponse)
		if r.RegionError != nil || len(r.Errors) > 0 {
			t.Fatalf("raw pessimistic lock: %v %v", r.RegionError, r.Errors)
		}
		time.Sleep(300 * time.Millisecond)
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		if err := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), 3000, time.Now()), key); err != nil {
			t.Fatalf("t2 LockKeys over expired pessimistic lock: %v", err)
		}
		t2.Set(key, []byte("t2"))
		if err := t2.Commit(ctx); err != nil {
			t.Fatalf("t2 Commit: %v", err)
		}
	})
	t.Run("IterReverseAcrossRegions", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		for i := 0; i < 10; i++ {
			txn.Set(k(fmt.Sprintf("y%dz", i)), []byte{byte('0' + i)})
		}
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		txn, _ = cli.Begin()
		it, err := txn.IterReverse(k("y9zz"), k("y0z"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for it.Valid() {
			got = append(got, string(it.Key()[len(prefix):]))
			it.Next()
		}
		t.Logf("reverse: %v", got)
		sorted := true
		for i := 1; i < len(got); i++ {
			if got[i] >= got[i-1] {
				sorted = false
			}
		}
		if len(got) != 15 || got[0] != "y9z" || !sorted {
			t.Fatalf("IterReverse across regions: %v", got)
		}
	})
	t.Run("LockOnlyIfExists/KeyExist", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		txn.SetPessimistic(true)
		lc := kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, time.Now())
		lc.ReturnValues = true
		lc.Values = map[string]kv.ReturnedValue{}
		if err := txn.LockKeys(ctx, lc, k("y2"), k("y-none")); err != nil {
			t.Fatalf("LockKeys ReturnValues: %v", err)
		}
		if v := lc.Values[string(k("y2"))]; string(v.Value) != "p1pc" || !v.Exists {
			t.Fatalf("returned value: %+v", v)
		}
		if v := lc.Values[string(k("y-none"))]; v.Exists {
			t.Fatalf("non-existing key reported existing: %+v", v)
		}
		txn.Rollback()
		// optimistic insert-if-not-exists conflict → ErrKeyExist via PresumeKeyNotExists
		txn, _ = cli.Begin()
		txn.GetMemBuffer().SetWithFlags(k("y2"), []byte("dup"), kv.SetPresumeKeyNotExists)
		err := txn.Commit(ctx)
		if !tikverr.IsErrKeyExist(err) {
			t.Fatalf("want ErrKeyExist, got %v", err)
		}
	})
}

func TestRawMultiRegion(t *testing.T) {
	addr := os.Getenv("MOCK_PD_RAWSPLIT")
	if addr == "" {
		t.Skip("MOCK_PD_RAWSPLIT not set (start mock with -split rs3,rs6)")
	}
	ctx, cancel := ctx10()
	defer cancel()
	cli, err := rawkv.NewClientWithOpts(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var keys, vals [][]byte
	for i := 0; i < 10; i++ {
		keys = append(keys, []byte(fmt.Sprintf("rs%d", i)))
		vals = append(vals, []byte(fmt.Sprintf("v%d", i)))
	}
	if err := cli.BatchPut(ctx, keys, vals); err != nil {
		t.Fatalf("BatchPut: %v", err)
	}
	got, err := cli.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("BatchGet: %v", err)
	}
	for i := range got {
		if string(got[i]) != string(vals[i]) {
			t.Fatalf("BatchGet[%d]=%q", i, got[i])
		}
	}
	ks, _, err := cli.Scan(ctx, []byte("rs"), []byte("rt"), 100)
	if err != nil || len(ks) != 10 {
		t.Fatalf("Scan across regions: %d %v", len(ks), err)
	}
	ks, _, err = cli.ReverseScan(ctx, []byte("rt"), []byte("rs"), 100)
	if err != nil || len(ks) != 10 || string(ks[0]) != "rs9" {
		t.Fatalf("ReverseScan across regions: %q %v", ks, err)
	}
	cs, err := cli.Checksum(ctx, []byte("rs"), []byte("rt"))
	if err != nil || cs.TotalKvs != 10 {
		t.Fatalf("Checksum across regions: %+v %v", cs, err)
	}
	if err := cli.DeleteRange(ctx, []byte("rs1"), []byte("rs8")); err != nil {
		t.Fatalf("DeleteRange across regions: %v", err)
	}
	ks, _, err = cli.Scan(ctx, []byte("rs"), []byte("rt"), 100)
	if err != nil || len(ks) != 3 {
		t.Fatalf("Scan after DeleteRange: %q %v", ks, err)
	}
	if err := cli.BatchDelete(ctx, keys); err != nil {
		t.Fatalf("BatchDelete: %v", err)
	}
}
