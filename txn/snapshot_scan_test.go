package txn_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestScan ports client-go integration_tests/scan_test.go TestScan: Iter
// over 1, 256, 257 and 768 rows (one batch, one full batch, a batch and
// one, three batches) with regions split at rows 123 and 456 after the
// data is written, with and without an upper bound and key-only; and an RC
// scan passing a prewritten lock without meeting it.
func TestScan(t *testing.T) {
	for _, n := range []int{1, 256, 257, 768} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := connectInProcess(t)
			c.write(rows(n)...)
			// Split after the write, so the client's region cache is stale.
			for _, at := range []int{123, 456} {
				if n > at {
					_, err := c.mock.SplitTxn([]byte(rowKey(at)))
					require.NoError(t, err)
				}
			}
			ctx := t.Context()
			s := txn.NewSnapshot(c.env, &fakeResolver{decide: rollBackAll}, c.now())
			v, err := s.Get(ctx, []byte(rowKey(0)))
			require.NoError(t, err)
			require.Equal(t, rowValue(0), string(v))

			got, err := collect(s.Iter(ctx, []byte("row"), nil))
			require.NoError(t, err)
			require.Equal(t, expectRows(0, n, false), got)
			upper := n / 2
			got, err = collect(s.Iter(ctx, []byte("row"), []byte(rowKey(upper))))
			require.NoError(t, err)
			require.Equal(t, expectRows(0, upper, false), got)

			keyOnly := txn.NewSnapshot(c.env, nil, c.now(), txn.WithKeyOnly())
			got, err = collect(keyOnly.Iter(ctx, []byte("row"), nil))
			require.NoError(t, err)
			require.Equal(t, expectRows(0, n, true), got)
			got, err = collect(keyOnly.Iter(ctx, []byte("row"), []byte(rowKey(upper))))
			require.NoError(t, err)
			require.Equal(t, expectRows(0, upper, true), got)

			// RC read over a prewritten (uncommitted) change of row 0.
			c.lock(time.Minute, rowKey(0), rowValue(1))
			r := &fakeResolver{decide: rollBackAll}
			rc := txn.NewSnapshot(c.env, r, c.now(), txn.WithIsolationLevel(txn.RC))
			got, err = collect(rc.Iter(ctx, []byte("row"), nil))
			require.NoError(t, err)
			require.Equal(t, expectRows(0, n, false), got)
			calls, _ := r.seen()
			require.Zero(t, calls, "RC meets no lock")
		})
	}
}

func TestIterReverse(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write(rows(600)...)
	s := txn.NewSnapshot(c.env, nil, c.now(), txn.WithScanBatchSize(100))
	ctx := t.Context()

	got, err := collect(s.IterReverse(ctx, []byte("rox"), nil))
	require.NoError(t, err)
	require.Equal(t, expectRows(599, -1, false), got)

	// upper exclusive, lower inclusive.
	got, err = collect(s.IterReverse(ctx, []byte(rowKey(500)), []byte(rowKey(100))))
	require.NoError(t, err)
	require.Equal(t, expectRows(499, 99, false), got)

	for _, q := range c.rec.sent(transport.CmdScan) {
		sr := q.Msg.(*kvrpcpb.ScanRequest)
		require.True(t, sr.Reverse)
		require.LessOrEqual(t, sr.Limit, uint32(100))
	}

	_, err = collect(s.IterReverse(ctx, nil, nil))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = collect(s.IterReverse(ctx, []byte("a"), []byte("b")))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = collect(s.Iter(ctx, []byte("b"), []byte("a")))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
}

// TestIterStopsWhenConsumerBreaks: a scan sends one page at a time, so a
// consumer that stops early stops the RPCs.
func TestIterStopsWhenConsumerBreaks(t *testing.T) {
	c := connectInProcess(t)
	c.write(rows(100)...)
	s := txn.NewSnapshot(c.env, nil, c.now(), txn.WithScanBatchSize(10))
	var got []string
	for p, err := range s.Iter(t.Context(), nil, nil) {
		require.NoError(t, err)
		got = append(got, string(p.Key))
		if len(got) == 15 {
			break
		}
	}
	require.Len(t, got, 15)
	require.Equal(t, 2, c.rec.count(transport.CmdScan))

	// A batch size of 1 or less is the default (client-go's scanner).
	c.rec.reset()
	s = txn.NewSnapshot(c.env, nil, c.now(), txn.WithScanBatchSize(1))
	got2, err := collect(s.Iter(t.Context(), nil, nil))
	require.NoError(t, err)
	require.Len(t, got2, 100)
	require.Equal(t, 1, c.rec.count(transport.CmdScan))
	require.Equal(t, uint32(txn.DefaultScanBatchSize), c.rec.sent(transport.CmdScan)[0].Msg.(*kvrpcpb.ScanRequest).Limit)
}

// TestIterRegionSplitDuringScan: regions split under a running scan; the
// scan re-locates and returns every row once, in order.
func TestIterRegionSplitDuringScan(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprint("reverse=", reverse), func(t *testing.T) {
			c := connectInProcess(t, mocktikv.WithStores(3))
			c.write(rows(40)...)
			s := txn.NewSnapshot(c.env, nil, c.now(), txn.WithScanBatchSize(4))
			seq := s.Iter(t.Context(), []byte("row"), []byte("rox"))
			if reverse {
				seq = s.IterReverse(t.Context(), []byte("rox"), []byte("row"))
			}
			var got []string
			for p, err := range seq {
				require.NoError(t, err)
				got = append(got, string(p.Key)+"="+string(p.Value))
				if len(got) == 6 {
					for _, at := range []int{10, 20, 30} {
						_, err := c.mock.SplitTxn([]byte(rowKey(at)))
						require.NoError(t, err)
					}
				}
			}
			want := expectRows(0, 40, false)
			if reverse {
				slices.Reverse(want)
			}
			require.Equal(t, want, got)
			// Pages after the split went to the regions it made.
			regions := map[uint64]bool{}
			for _, q := range c.rec.sent(transport.CmdScan) {
				regions[q.Msg.(*kvrpcpb.ScanRequest).Context.RegionId] = true
			}
			require.GreaterOrEqual(t, len(regions), 4, "pages went to the new regions")
		})
	}
}
