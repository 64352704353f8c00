package txn_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortScanThroughTxn ports client-go integration_tests/scan_test.go
// TestScan through the public Txn (scenario S40): 1, 256, 257 and 768
// rows, regions split at rows 123 and 456 afterwards,
// scans in pages of 256: a transaction's Iter returns every row in order,
// with an upper bound exactly the first half, key-only keys only; an RC
// transaction scans past another transaction's prewrite lock on row 0
// without meeting it (no status check sent) and reads the committed rows.
func TestPortScanThroughTxn(t *testing.T) {
	for _, n := range []int{1, 256, 257, 768} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := newPortCluster(t, false, nil)
			ctx := shortCtx(t)
			// Written whole (not by a Txn, whose secondaries commit in the
			// background) so the RC scan below has every row to read.
			p.write(rows(n)...)
			for _, at := range []int{123, 456} {
				if n > at {
					if _, err := p.mock.SplitTxn([]byte(rowKey(at))); err != nil {
						t.Fatal(err)
					}
				}
			}
			batch := txn.WithTxnSnapshotOptions(txn.WithScanBatchSize(256))
			tx := p.begin(batch)
			if v, err := tx.Get(ctx, []byte(rowKey(0))); err != nil || string(v) != rowValue(0) {
				t.Fatalf("get row 0 = %q, %v", v, err)
			}
			check := func(what string, got []string, err error, want []string) {
				t.Helper()
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("%s: %d pairs, %v; want %d", what, len(got), err, len(want))
				}
			}
			got, err := collect(tx.Iter(ctx, []byte("row"), nil))
			check("iter", got, err, expectRows(0, n, false))
			got, err = collect(tx.Iter(ctx, []byte("row"), []byte(rowKey(n/2))))
			check("iter to half", got, err, expectRows(0, n/2, false))
			keyOnly := p.begin(txn.WithTxnSnapshotOptions(txn.WithScanBatchSize(256), txn.WithKeyOnly()))
			got, err = collect(keyOnly.Iter(ctx, []byte("row"), nil))
			check("key-only iter", got, err, expectRows(0, n, true))
			got, err = collect(keyOnly.Iter(ctx, []byte("row"), []byte(rowKey(n/2))))
			check("key-only iter to half", got, err, expectRows(0, n/2, true))

			start := p.lockMin(time.Minute, rowKey(0), rowValue(1))
			p.log.take()
			rc := p.begin(txn.WithTxnSnapshotOptions(txn.WithScanBatchSize(256), txn.WithIsolationLevel(txn.RC)))
			got, err = collect(rc.Iter(ctx, []byte("row"), nil))
			check("RC iter over a lock", got, err, expectRows(0, n, false))
			if cmds := p.log.take(); slices.Contains(cmds, transport.CmdCheckTxnStatus) || slices.Contains(cmds, transport.CmdResolveLock) {
				t.Fatalf("the RC scan met the lock: %v", cmds)
			}
			p.rollback(start, rowKey(0))
		})
	}
}

// TestPortUnionScan ports the transaction-level half of client-go's scan
// tests (scan_test.go over a txn, and internal/unionstore's union iterator
// semantics end to end): a transaction's buffered writes (an overwrite, a
// delete, inserts between, before and after the stored rows) are merged
// into its scans of the stored rows, across three regions and pages of 4
// pairs, forward and reverse, with bounds; breaking out of the loop stops
// the scan's RPCs.
func TestPortUnionScan(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte(rowKey(10)), []byte(rowKey(20)))})
	ctx := shortCtx(t)
	p.commit(rows(30)...)
	tx := p.begin(txn.WithTxnSnapshotOptions(txn.WithScanBatchSize(4)))
	_ = tx.Set([]byte(rowKey(5)), []byte("new5"))
	_ = tx.Delete([]byte(rowKey(15)))
	_ = tx.Set([]byte(rowKey(25)+"a"), []byte("ins25a"))
	_ = tx.Set([]byte("row"), []byte("first"))
	_ = tx.Set([]byte("rowz"), []byte("last"))

	var want []string
	want = append(want, "row=first")
	for i := range 30 {
		switch i {
		case 5:
			want = append(want, rowKey(5)+"=new5")
		case 15:
		case 25:
			want = append(want, rowKey(25)+"="+rowValue(25), rowKey(25)+"a=ins25a")
		default:
			want = append(want, rowKey(i)+"="+rowValue(i))
		}
	}
	want = append(want, "rowz=last")

	got, err := collect(tx.Iter(ctx, []byte("row"), []byte("rox")))
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("union iter:\n got %v, %v\nwant %v", got, err, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	got, err = collect(tx.IterReverse(ctx, []byte("rox"), []byte("row")))
	if err != nil || !slices.Equal(got, rev) {
		t.Fatalf("union reverse iter:\n got %v, %v\nwant %v", got, err, rev)
	}
	// Bounds cut both sources: [row00004, row00016) holds the overwrite and
	// the delete.
	got, err = collect(tx.Iter(ctx, []byte(rowKey(4)), []byte(rowKey(16))))
	lo := slices.Index(want, rowKey(4)+"="+rowValue(4))
	hi := slices.Index(want, rowKey(16)+"="+rowValue(16))
	if err != nil || !slices.Equal(got, want[lo:hi]) {
		t.Fatalf("bounded union iter: %v, %v; want %v", got, err, want[lo:hi])
	}

	p.log.take()
	n := 0
	for _, err := range tx.Iter(ctx, []byte("row"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if scans := countCmd(p.log.take(), transport.CmdScan); scans > 1 {
		t.Fatalf("breaking after 3 pairs sent %d scans, want 1 page", scans)
	}
}

func countCmd(cmds []transport.Cmd, c transport.Cmd) int {
	n := 0
	for _, x := range cmds {
		if x == c {
			n++
		}
	}
	return n
}
