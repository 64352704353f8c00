package txn_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// TestSnapshotOverGRPC runs the snapshot's reads through the real PD
// client and gRPC transport against a served mocktikv: point reads, a
// batch over regions, scans both ways, and a lock resolved on the way.
func TestSnapshotOverGRPC(t *testing.T) {
	c := connectGRPC(t, splitAt)
	c.write(rows(300)...)
	c.write("a", "1")
	lockTS := c.lock(time.Minute, rowKey(150), "locked")
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, c.now(), txn.WithScanBatchSize(64))
	ctx := t.Context()

	v, err := s.Get(ctx, []byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	_, err = s.Get(ctx, []byte("nope"))
	require.ErrorIs(t, err, kv.ErrNotFound)

	values, err := s.BatchGet(ctx, [][]byte{[]byte(rowKey(0)), []byte(rowKey(150)), []byte(rowKey(299))})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte(rowValue(0)), []byte(rowValue(150)), []byte(rowValue(299))}, values)
	_, locks := r.seen()
	require.Equal(t, []uint64{lockTS}, locks)

	got, err := collect(s.Iter(ctx, []byte("row"), []byte("rox")))
	require.NoError(t, err)
	require.Equal(t, expectRows(0, 300, false), got)
	got, err = collect(s.IterReverse(ctx, []byte("rox"), []byte("row")))
	require.NoError(t, err)
	require.Equal(t, expectRows(299, -1, false), got)
	calls, _ := r.seen()
	require.Equal(t, 1, calls, "the scans carried the resolved lock from the start")
}
