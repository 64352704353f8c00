package membuf

import (
	"encoding/binary"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// indexKinds lists the index implementations every behaviour test runs on.
var indexKinds = []struct {
	name string
	kind indexKind
}{{"btree", indexBTree}, {"skiplist", indexSkipList}, {"btree3", indexBTreeTiny}}

// eachIndex runs f once per index implementation, as client-go's tests run
// each case on both its RBT and ART memdb.
func eachIndex(t *testing.T, f func(t *testing.T, newBuf func(...Option) *Buffer)) {
	t.Helper()
	for _, k := range indexKinds {
		t.Run(k.name, func(t *testing.T) {
			f(t, func(opts ...Option) *Buffer { return New(append([]Option{withIndex(k.kind)}, opts...)...) })
		})
	}
}

func be32(i int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	return b[:]
}

// deriveAndFill opens a stage and sets keys [start, end) to key+valueBase,
// like client-go memdb_test.go deriveAndFill.
func deriveAndFill(t *testing.T, b *Buffer, start, end, valueBase int) int {
	t.Helper()
	h := b.Staging()
	for i := start; i < end; i++ {
		if err := b.Set(be32(i), be32(i+valueBase)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func fill(t *testing.T, b *Buffer, cnt int) { b.Release(deriveAndFill(t, b, 0, cnt, 0)) }

// collect drains an iterator into keys and values.
func collect(t *testing.T, it *Iterator) (keys, vals [][]byte) {
	t.Helper()
	for ; it.Valid(); it.Next() {
		keys = append(keys, it.Key())
		vals = append(vals, it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return keys, vals
}
