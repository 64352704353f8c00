package membuf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ports client-go internal/unionstore/memdb_test.go TestDiscard and the same
// case in internal/unionstore/rbt/rbt_test.go (its empty-buffer end is
// also in TestEmptyBuffer)
func TestDiscard(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		base := deriveAndFill(t, b, 0, cnt, 0)
		sz := b.Size()
		b.Cleanup(deriveAndFill(t, b, 0, cnt, 1))
		require.Equal(t, cnt, b.Len())
		require.Equal(t, sz, b.Size())
		for i := 0; i < cnt; i++ {
			v, k := b.Get(be32(i))
			require.Equal(t, KindPut, k)
			require.Equal(t, be32(i), v)
		}
		keys, vals := collect(t, b.Iter(nil, nil))
		require.Len(t, keys, cnt)
		for i := range keys {
			require.Equal(t, be32(i), keys[i])
			require.Equal(t, be32(i), vals[i])
		}
		keys, _ = collect(t, b.IterReverse(nil, nil))
		require.Len(t, keys, cnt)
		require.Equal(t, be32(cnt-1), keys[0])

		b.Cleanup(base)
		for i := 0; i < cnt; i++ {
			_, k := b.Get(be32(i))
			require.Equal(t, KindNone, k)
		}
		require.False(t, b.Iter(nil, nil).Valid())
		require.Equal(t, 0, b.Len())
		require.Equal(t, 0, b.Size())
	})
}

// ports client-go internal/unionstore/memdb_test.go TestFlushOverwrite
func TestFlushOverwrite(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		b.Release(deriveAndFill(t, b, 0, cnt, 0))
		sz := b.Size()
		b.Release(deriveAndFill(t, b, 0, cnt, 1))
		require.Equal(t, cnt, b.Len())
		require.Equal(t, sz, b.Size())
		keys, vals := collect(t, b.Iter(nil, nil))
		require.Len(t, keys, cnt)
		for i := range keys {
			require.Equal(t, be32(i), keys[i])
			require.Equal(t, be32(i+1), vals[i])
		}
		keys, vals = collect(t, b.IterReverse(nil, nil))
		require.Len(t, keys, cnt)
		for i := range keys {
			require.Equal(t, be32(cnt-1-i), keys[i])
			require.Equal(t, be32(cnt-i), vals[i])
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestComplexUpdate
func TestComplexUpdate(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const keep, overwrite, insert = 3000, 6000, 9000
		b.Release(deriveAndFill(t, b, 0, overwrite, 0))
		require.Equal(t, overwrite, b.Len())
		b.Release(deriveAndFill(t, b, keep, insert, 1))
		require.Equal(t, insert, b.Len())
		for i := 0; i < insert; i++ {
			want := be32(i)
			if i >= keep {
				want = be32(i + 1)
			}
			v, _ := b.Get(be32(i))
			require.Equal(t, want, v)
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestNestedSandbox
func TestNestedSandbox(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		h0 := deriveAndFill(t, b, 0, 200, 0)
		h1 := deriveAndFill(t, b, 0, 100, 1)
		h2 := deriveAndFill(t, b, 50, 150, 2)
		h3 := deriveAndFill(t, b, 100, 120, 3)
		h4 := deriveAndFill(t, b, 0, 150, 4)
		b.Cleanup(h4)
		b.Release(h3)
		b.Cleanup(h2)
		b.Release(h1)
		b.Release(h0)
		want := func(i int) []byte {
			if i < 100 {
				return be32(i + 1)
			}
			return be32(i)
		}
		for i := 0; i < 200; i++ {
			v, _ := b.Get(be32(i))
			require.Equal(t, want(i), v)
		}
		keys, vals := collect(t, b.Iter(nil, nil))
		require.Len(t, keys, 200)
		for i := range keys {
			require.Equal(t, be32(i), keys[i])
			require.Equal(t, want(i), vals[i])
		}
		keys, vals = collect(t, b.IterReverse(nil, nil))
		require.Len(t, keys, 200)
		for i := range keys {
			require.Equal(t, be32(199-i), keys[i])
			require.Equal(t, want(199-i), vals[i])
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestMemDBStaging
func TestMemDBStaging(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.NoError(t, b.Set([]byte("x"), make([]byte, 2)))
		h1 := b.Staging()
		require.NoError(t, b.Set([]byte("x"), make([]byte, 3)))
		h2 := b.Staging()
		require.NoError(t, b.Set([]byte("yz"), make([]byte, 1)))
		v, _ := b.Get([]byte("x"))
		require.Len(t, v, 3)
		b.Release(h2)
		v, _ = b.Get([]byte("yz"))
		require.Len(t, v, 1)
		b.Cleanup(h1)
		v, _ = b.Get([]byte("x"))
		require.Len(t, v, 2)
		_, k := b.Get([]byte("yz"))
		require.Equal(t, KindNone, k)
	})
}

// ports client-go internal/unionstore/memdb_test.go TestMemDBMultiLevelStaging
func TestMemDBMultiLevelStaging(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		key := []byte{0}
		for i := 0; i < 100; i++ {
			require.Equal(t, i+1, b.Staging())
			require.NoError(t, b.Set(key, []byte{byte(i)}))
			v, _ := b.Get(key)
			require.Equal(t, []byte{byte(i)}, v)
		}
		for i := 99; i >= 0; i-- {
			expect := i
			if i%2 == 1 {
				expect = i - 1
				b.Cleanup(i + 1)
			} else {
				b.Release(i + 1)
			}
			v, _ := b.Get(key)
			require.Equal(t, []byte{byte(expect)}, v)
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestInvalidStagingHandle
func TestInvalidStagingHandle(t *testing.T) {
	b := New()
	h1 := b.Staging()
	h2 := b.Staging()
	require.Panics(t, func() { b.Release(h2 + 1) })
	require.Panics(t, func() { b.Release(h2 - 1) })
	b.Release(0)
	b.Release(h2)
	b.Release(0)
	b.Release(h1)
	b.Release(0)
	require.Zero(t, b.Stages())

	h1 = b.Staging()
	h2 = b.Staging()
	b.Cleanup(h2 + 1) // beyond the open stages: no-op
	require.Equal(t, 2, b.Stages())
	require.Panics(t, func() { b.Cleanup(h2 - 1) })
	b.Cleanup(0)
	b.Cleanup(h2)
	b.Cleanup(0)
	b.Cleanup(h1)
	b.Cleanup(0)
	require.Zero(t, b.Stages())
}

// ports client-go internal/unionstore/memdb_test.go TestMemDBCheckpoint
func TestMemDBCheckpoint(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		cp1 := b.Checkpoint()
		require.NoError(t, b.Set([]byte("x"), []byte("x")))
		cp2 := b.Checkpoint()
		require.NoError(t, b.Set([]byte("y"), []byte("y")))
		h := b.Staging()
		require.NoError(t, b.Set([]byte("z"), []byte("z")))
		b.Release(h)
		for _, k := range []string{"x", "y", "z"} {
			v, _ := b.Get([]byte(k))
			require.Equal(t, []byte(k), v)
		}
		b.RevertToCheckpoint(cp2)
		v, _ := b.Get([]byte("x"))
		require.Equal(t, []byte("x"), v)
		for _, k := range []string{"y", "z"} {
			_, kind := b.Get([]byte(k))
			require.Equal(t, KindNone, kind)
		}
		b.RevertToCheckpoint(cp1)
		_, kind := b.Get([]byte("x"))
		require.Equal(t, KindNone, kind)
		require.Zero(t, b.Len())
		// cp2 now lies beyond the history: using it is a programming error.
		require.Panics(t, func() { b.RevertToCheckpoint(cp2) })
		// A checkpoint older than an open stage belongs to Cleanup.
		require.NoError(t, b.Set([]byte("x"), []byte("x")))
		cp3 := b.Checkpoint()
		b.Staging()
		require.Panics(t, func() { b.RevertToCheckpoint(cp1) })
		require.NoError(t, b.Set([]byte("w"), []byte("w")))
		b.RevertToCheckpoint(b.Checkpoint())
		// A rollback below cp3 makes it stale even once the history has
		// grown back past its position.
		b.Cleanup(1)
		b.RevertToCheckpoint(cp1)
		require.NoError(t, b.Set([]byte("p"), []byte("p")))
		require.NoError(t, b.Set([]byte("q"), []byte("q")))
		require.Panics(t, func() { b.RevertToCheckpoint(cp3) })
		v, _ = b.Get([]byte("q"))
		require.Equal(t, []byte("q"), v)
	})
}

// ports client-go internal/unionstore/memdb_test.go TestSnapshotGetIter
func TestSnapshotGetIter(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		var iters, revIters []*Iterator
		for i := 0; i < 100; i++ {
			require.NoError(t, b.Set([]byte{0}, []byte{byte(i)}))
			require.NoError(t, b.Set([]byte{1}, []byte{byte(i)}))
			v, k := b.SnapshotGet([]byte{0})
			require.Equal(t, KindPut, k)
			require.Equal(t, []byte{byte(min(i, 50))}, v)
			it := b.SnapshotIter(nil, nil)
			require.Equal(t, []byte{0}, it.Key())
			require.Equal(t, []byte{byte(min(i, 50))}, it.Value())
			rit := b.SnapshotIterReverse(nil, nil)
			require.Equal(t, []byte{1}, rit.Key())
			require.Equal(t, []byte{byte(min(i, 50))}, rit.Value())
			if i >= 50 {
				iters = append(iters, it)
				revIters = append(revIters, rit)
			}
			if i == 50 {
				b.Staging()
			}
		}
		// Iterators opened after the stage began survive writes inside it.
		for _, it := range iters {
			require.True(t, it.Valid())
			require.Equal(t, []byte{50}, it.Value())
		}
		for _, it := range revIters {
			require.Equal(t, []byte{50}, it.Value())
		}

		b.Reset()
		require.False(t, iters[0].Valid())
		require.ErrorIs(t, iters[0].Err(), ErrIteratorInvalidated)
		require.NoError(t, b.UpdateFlags([]byte{255}, SetPresumeKeyNotExists))
		for i := 1; i < 50; i++ {
			require.NoError(t, b.Set([]byte{byte(2 * i)}, []byte{byte(2 * i)}))
		}
		h := b.Staging()
		for i := 0; i < 100; i++ {
			require.NoError(t, b.Set([]byte{byte(i)}, []byte{byte(2 * i)}))
		}
		v, k := b.SnapshotGet([]byte{2})
		require.Equal(t, KindPut, k)
		require.Equal(t, []byte{2}, v)
		for _, key := range []byte{1, 254, 255} {
			_, k = b.SnapshotGet([]byte{key})
			require.Equal(t, KindNone, k)
		}
		keys, vals := collect(t, b.SnapshotIter(nil, nil))
		require.Len(t, keys, 49)
		for i := range keys {
			require.Equal(t, []byte{byte(2 * (i + 1))}, keys[i])
			require.Equal(t, []byte{byte(2 * (i + 1))}, vals[i])
		}
		keys, _ = collect(t, b.SnapshotIterReverse(nil, nil))
		require.Len(t, keys, 49)
		require.Equal(t, []byte{98}, keys[0])
		b.Release(h)
		v, _ = b.SnapshotGet([]byte{2})
		require.Equal(t, []byte{4}, v)
	})
}

// ports client-go internal/unionstore/memdb_test.go TestCleanupKeepPersistentFlag
func TestCleanupKeepPersistentFlag(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		h := b.Staging()
		require.NoError(t, b.SetWithFlags([]byte{1}, []byte{1}, SetKeyLocked))
		require.NoError(t, b.SetWithFlags([]byte{2}, []byte{2}, SetPresumeKeyNotExists))
		require.NoError(t, b.SetWithFlags([]byte{3}, []byte{3}, SetKeyLocked, SetPresumeKeyNotExists))
		b.Cleanup(h)
		for _, key := range [][]byte{{1}, {2}, {3}} {
			_, k := b.Get(key)
			require.Equal(t, KindNone, k)
		}
		f, ok := b.GetFlags([]byte{1})
		require.True(t, ok)
		require.True(t, f.HasLocked())
		_, ok = b.GetFlags([]byte{2})
		require.False(t, ok)
		f, ok = b.GetFlags([]byte{3})
		require.True(t, ok)
		require.True(t, f.HasLocked())
		require.False(t, f.HasPresumeKeyNotExists())
	})
}

// ports client-go internal/unionstore/memdb_test.go TestSnapshotReaderWithWrite
func TestSnapshotReaderWithWrite(t *testing.T) {
	for _, num := range []int{4, 16, 48, 200} {
		eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
			b := newBuf()
			for i := 0; i < num; i++ {
				require.NoError(t, b.Set([]byte{0, byte(i)}, []byte{0, byte(i)}))
			}
			h := b.Staging()
			defer b.Release(h)
			it := b.SnapshotIter([]byte{0, 0}, []byte{0, 255})
			require.Equal(t, []byte{0, 0}, it.Key())
			// Writes inside the stage reshape the index under the iterator.
			require.NoError(t, b.Set([]byte{0, byte(num)}, []byte{0, byte(num)}))
			for i := 0; i < num; i++ {
				require.NoError(t, b.Set([]byte{1, byte(i)}, []byte{1, byte(i)}))
				require.NoError(t, b.Set([]byte{0, byte(i), 1}, []byte{2}))
			}
			for i := 0; i < num; i++ {
				require.True(t, it.Valid())
				require.Equal(t, []byte{0, byte(i)}, it.Key())
				it.Next()
			}
			require.False(t, it.Valid())
			require.NoError(t, it.Err())
		})
	}
}

// ports client-go internal/unionstore/memdb_test.go TestDirty
func TestDirty(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.NoError(t, b.Set([]byte{1}, []byte{1}))
		require.True(t, b.Dirty())

		b = newBuf()
		h := b.Staging()
		require.NoError(t, b.Set([]byte{1}, []byte{1}))
		b.Cleanup(h)
		require.False(t, b.Dirty())

		h = b.Staging()
		require.NoError(t, b.Set([]byte{1}, []byte{1}))
		require.False(t, b.Dirty())
		b.Release(h)
		require.True(t, b.Dirty())

		// Persistent flags make the buffer dirty, even rolled back.
		b = newBuf()
		h = b.Staging()
		require.NoError(t, b.SetWithFlags([]byte{1}, []byte{1}, SetKeyLocked))
		b.Cleanup(h)
		require.True(t, b.Dirty())

		// Non-persistent ones do not.
		b = newBuf()
		h = b.Staging()
		require.NoError(t, b.SetWithFlags([]byte{1}, []byte{1}, SetPresumeKeyNotExists))
		b.Cleanup(h)
		require.False(t, b.Dirty())
		b.Reset()
		require.False(t, b.Dirty())
	})
}

// ports client-go internal/unionstore/memdb_test.go TestInspectStage
func TestInspectStage(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		h1 := deriveAndFill(t, b, 0, 1000, 0)
		h2 := deriveAndFill(t, b, 500, 1000, 1)
		for i := 500; i < 1500; i++ {
			require.NoError(t, b.Set(be32(i), be32(i+2)))
		}
		h3 := deriveAndFill(t, b, 1000, 2000, 3)

		inspect := func(h int) map[int]int {
			got := map[int]int{}
			b.InspectStage(h, func(key []byte, _ Flags, kind Kind, val []byte) {
				require.Equal(t, KindPut, kind)
				k := bytesToInt(key)
				_, dup := got[k]
				require.False(t, dup, "key %d reported twice", k)
				got[k] = bytesToInt(val) - k
			})
			return got
		}
		got := inspect(h3)
		require.Len(t, got, 1000)
		for k, d := range got {
			require.True(t, k >= 1000 && k < 2000)
			require.Equal(t, 3, d)
		}
		got = inspect(h2)
		require.Len(t, got, 1500)
		for k, d := range got {
			require.True(t, k >= 500 && k < 2000)
			if k < 1000 {
				require.Equal(t, 2, d)
			} else {
				require.Equal(t, 3, d)
			}
		}
		b.Cleanup(h3)
		b.Release(h2)
		got = inspect(h1)
		require.Len(t, got, 1500)
		for k, d := range got {
			if k < 500 {
				require.Equal(t, 0, d)
			} else {
				require.Equal(t, 2, d)
			}
		}
		b.Release(h1)
		require.Panics(t, func() { b.InspectStage(1, func([]byte, Flags, Kind, []byte) {}) })
	})
}

// ports client-go internal/unionstore/memdb_test.go TestBatchedSnapshotIter
// and TestBatchedSnapshotIterEdgeCase: a stage-0 iterator, forward or
// reverse, keeps reading the pre-stage contents while the stage is written,
// and ends with ErrIteratorInvalidated once the stage-0 view changes.
func TestBatchedSnapshotIter(t *testing.T) {
	for _, num := range []int{3, 17, 64} {
		for _, reverse := range []bool{false, true} {
			eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
				b := newBuf()
				for i := 0; i < num; i++ {
					require.NoError(t, b.Set([]byte{0, byte(i)}, []byte{0, byte(i)}))
				}
				h := b.Staging()
				it := b.SnapshotIter([]byte{0, 0}, []byte{0, 255})
				first := 0
				if reverse {
					it = b.SnapshotIterReverse([]byte{0, 255}, []byte{0, 0})
					first = num - 1
				}
				require.True(t, it.Valid())
				require.Equal(t, []byte{0, byte(first)}, it.Key())
				require.NoError(t, b.Set([]byte{0, byte(num)}, []byte{0, byte(num)}))
				for i := 0; i < num; i++ {
					require.NoError(t, b.Set([]byte{1, byte(i)}, []byte{1, byte(i)}))
					require.NoError(t, b.Set([]byte{0, byte(i)}, []byte{9}))
				}
				for i := 0; i < num; i++ {
					want := i
					if reverse {
						want = num - 1 - i
					}
					require.True(t, it.Valid())
					require.Equal(t, []byte{0, byte(want)}, it.Key())
					require.Equal(t, []byte{0, byte(want)}, it.Value())
					it.Next()
				}
				require.False(t, it.Valid())
				require.NoError(t, it.Err())

				it = b.SnapshotIter(nil, nil)
				require.True(t, it.Valid())
				b.Release(h) // the stage-0 view now includes the stage's writes
				require.False(t, it.Valid())
				require.ErrorIs(t, it.Err(), ErrIteratorInvalidated)
			})
		}
	}

	b := New()
	h := b.Staging()
	require.False(t, b.SnapshotIter([]byte{1}, []byte{1}).Valid())
	require.False(t, b.SnapshotIter([]byte{0}, []byte{1}).Valid())
	require.NoError(t, b.Set([]byte{1}, []byte{1}))
	b.Release(h)
	for _, k := range []byte{2, 3, 4} {
		require.NoError(t, b.Set([]byte{k}, []byte{k}))
	}
	b.Staging()
	keys, _ := collect(t, b.SnapshotIter([]byte{2}, []byte{4}))
	require.Equal(t, [][]byte{{2}, {3}}, keys)
	keys, _ = collect(t, b.SnapshotIterReverse([]byte{4}, []byte{2}))
	require.Equal(t, [][]byte{{3}, {2}}, keys)
}

// TestUndoOnlyWhenRevertible: writes that no stage or checkpoint can roll
// back leave no undo record (the memory a plain transaction saves), and the
// history starts with the first stage or checkpoint.
func TestUndoOnlyWhenRevertible(t *testing.T) {
	b := New()
	for i := 0; i < 100; i++ {
		require.NoError(t, b.Set(be32(i), be32(i)))
	}
	require.Empty(t, b.undo)
	h := b.Staging()
	require.NoError(t, b.Set(be32(1), []byte("x")))
	require.Len(t, b.undo, 1)
	b.Release(h)
	require.True(t, b.Dirty())
	cp := b.Checkpoint()
	require.NoError(t, b.Set(be32(2), []byte("y")))
	require.Len(t, b.undo, 2)
	b.RevertToCheckpoint(cp)
	v, _ := b.Get(be32(2))
	require.Equal(t, be32(2), v)
	v, _ = b.Get(be32(1))
	require.Equal(t, []byte("x"), v)
}
