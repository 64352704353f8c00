package membuf

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ports client-go internal/unionstore/memdb_test.go TestGetSet
func TestGetSet(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		fill(t, b, cnt)
		for i := 0; i < cnt; i++ {
			v, k := b.Get(be32(i))
			require.Equal(t, KindPut, k)
			require.Equal(t, be32(i), v)
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestIterator
func TestIterator(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		fill(t, b, cnt)
		i := 0
		for it := b.Iter(nil, nil); it.Valid(); it.Next() {
			require.Equal(t, be32(i), it.Key())
			require.Equal(t, be32(i), it.Value())
			i++
		}
		require.Equal(t, cnt, i)
		for it := b.IterReverse(nil, nil); it.Valid(); it.Next() {
			require.Equal(t, be32(i-1), it.Key())
			require.Equal(t, be32(i-1), it.Value())
			i--
		}
		require.Equal(t, 0, i)
		const bound = 400
		for it := b.Iter(nil, be32(bound)); it.Valid(); it.Next() {
			require.Equal(t, be32(i), it.Key())
			i++
		}
		require.Equal(t, bound, i)
		i = cnt
		for it := b.IterReverse(nil, be32(bound)); it.Valid(); it.Next() {
			require.Equal(t, be32(i-1), it.Key())
			i--
		}
		require.Equal(t, bound, i)
	})
}

// ports client-go internal/unionstore/memdb_test.go TestDiscard
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

// ports client-go internal/unionstore/memdb_test.go TestOverwrite
func TestOverwrite(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		fill(t, b, cnt)
		sz := b.Size()
		for i := 0; i < cnt; i += 3 {
			require.NoError(t, b.Set(be32(i), be32(i*10)))
		}
		require.Equal(t, cnt, b.Len())
		require.Equal(t, sz, b.Size())
		want := func(i int) []byte {
			if i%3 == 0 {
				return be32(i * 10)
			}
			return be32(i)
		}
		keys, vals := collect(t, b.Iter(nil, nil))
		require.Len(t, keys, cnt)
		for i := range keys {
			require.Equal(t, want(i), vals[i])
		}
		_, vals = collect(t, b.IterReverse(nil, nil))
		for i := range vals {
			require.Equal(t, want(cnt-1-i), vals[i])
		}
	})
}

// ports client-go internal/unionstore/memdb_test.go TestReset
func TestReset(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		fill(t, b, 1000)
		cp := b.Checkpoint()
		b.Reset()
		_, k := b.Get(be32(0))
		require.Equal(t, KindNone, k)
		_, ok := b.GetFlags(be32(0))
		require.False(t, ok)
		require.False(t, b.Iter(nil, nil).Valid())
		require.Zero(t, b.Len())
		require.Zero(t, b.Size())
		require.Panics(t, func() { b.RevertToCheckpoint(cp) })
		require.NoError(t, b.Set([]byte("a"), []byte("b")))
		v, _ := b.Get([]byte("a"))
		require.Equal(t, []byte("b"), v)
	})
}

// ports client-go internal/unionstore/memdb_test.go TestFlags
func TestFlags(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const cnt = 10000
		h := b.Staging()
		for i := 0; i < cnt; i++ {
			if i%2 == 0 {
				require.NoError(t, b.SetWithFlags(be32(i), be32(i), SetPresumeKeyNotExists, SetKeyLocked))
			} else {
				require.NoError(t, b.SetWithFlags(be32(i), be32(i), SetPresumeKeyNotExists))
			}
		}
		b.Cleanup(h)
		for i := 0; i < cnt; i++ {
			_, k := b.Get(be32(i))
			require.Equal(t, KindNone, k)
			flags, ok := b.GetFlags(be32(i))
			if i%2 == 0 {
				require.True(t, ok)
				require.True(t, flags.HasLocked())
				require.False(t, flags.HasPresumeKeyNotExists())
			} else {
				require.False(t, ok)
			}
		}
		require.Equal(t, 5000, b.Len())
		require.Equal(t, 20000, b.Size())
		require.False(t, b.Iter(nil, nil).Valid())

		n := 0
		for e, err := range b.Entries(nil, nil) {
			require.NoError(t, err)
			require.Zero(t, bytesToInt(e.Key)%2)
			require.Equal(t, KindNone, e.Kind)
			n++
		}
		require.Equal(t, 5000, n)

		for i := 0; i < cnt; i++ {
			require.NoError(t, b.UpdateFlags(be32(i), DelKeyLocked))
		}
		for i := 0; i < cnt; i++ {
			_, k := b.Get(be32(i))
			require.Equal(t, KindNone, k)
			// UpdateFlags creates missing keys.
			flags, ok := b.GetFlags(be32(i))
			require.True(t, ok)
			require.False(t, flags.HasLocked())
		}
	})
}

func bytesToInt(b []byte) int { return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }

func encodeInt(n int) []byte { return []byte(fmt.Sprintf("%010d", n)) }

// ports client-go internal/unionstore/memdb_test.go TestKVGetSet and TestNewIterator
func TestKVGetSetAndNewIterator(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.False(t, b.Iter(nil, nil).Valid())
		const testCount, step = 2, 2
		for i := 0; i < testCount; i++ {
			require.NoError(t, b.Set(encodeInt(i*step), encodeInt(i*step)))
		}
		for i := 0; i < testCount; i++ {
			v, _ := b.Get(encodeInt(i * step))
			require.Equal(t, encodeInt(i*step), v)
			it := b.Iter(encodeInt(i*step), nil)
			require.Equal(t, encodeInt(i*step), it.Key())
		}
		it := b.Iter(encodeInt(0), nil)
		it.Next()
		require.True(t, it.Valid())
		require.Equal(t, encodeInt(step), it.Key())
		require.False(t, b.Iter(encodeInt(testCount*step), nil).Valid())
		it = b.Iter(encodeInt((testCount-1)*step-1), nil)
		require.True(t, it.Valid())
		require.Equal(t, encodeInt((testCount-1)*step), it.Key())
	})
}

// ports client-go internal/unionstore/memdb_test.go TestIterNextUntil and TestBasicNewIterator
func TestIterNextUntilAndBasicNewIterator(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.False(t, b.Iter([]byte("2"), nil).Valid())
		require.NoError(t, b.Set(encodeInt(0), encodeInt(0)))
		require.NoError(t, b.Set(encodeInt(2), encodeInt(2)))
		it := b.Iter(nil, nil)
		for it.Valid() {
			it.Next()
		}
		require.False(t, it.Valid())
		require.NoError(t, it.Err())
		it.Next() // Next past the end stays a no-op
		require.False(t, it.Valid())
	})
}

// ports client-go internal/unionstore/memdb_test.go TestNewIteratorMin
func TestNewIteratorMin(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		const p = "DATA_test_main_db_tbl_tbl_test_record__0000000000000000000"
		for _, kv := range [][2]string{{p + "1", "lock-version"}, {p + "1_0002", "1"}, {p + "1_0003", "hello"},
			{p + "2", "lock-version"}, {p + "2_0002", "2"}, {p + "2_0003", "hello"}} {
			require.NoError(t, b.Set([]byte(kv[0]), []byte(kv[1])))
		}
		keys, _ := collect(t, b.Iter(nil, nil))
		require.Len(t, keys, 6)
		require.Equal(t, p+"1", string(b.Iter([]byte(p+"0"), nil).Key()))
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

// ports client-go internal/unionstore/memdb_test.go TestBufferLimit; unlike
// client-go a refused write leaves the buffer unchanged (see Limits).
func TestBufferLimit(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf(WithLimits(Limits{MaxEntrySize: 500, MaxSize: 1000}))
		var tl *TooLargeError
		err := b.Set([]byte("x"), make([]byte, 500))
		require.ErrorAs(t, err, &tl)
		require.Equal(t, LimitEntrySize, tl.Limit)
		require.ErrorIs(t, err, ErrTooLarge)
		require.Zero(t, b.Len())

		require.NoError(t, b.Set([]byte("x"), make([]byte, 499)))
		err = b.Set([]byte("yz"), make([]byte, 499)) // 501 bytes
		require.ErrorAs(t, err, &tl)
		require.Equal(t, LimitEntrySize, tl.Limit)
		require.Equal(t, uint64(501), tl.Want)
		err = b.Set([]byte("yz"), make([]byte, 498)) // 500 + 500 fits
		require.NoError(t, err)
		err = b.Set([]byte("w"), nil)
		require.ErrorAs(t, err, &tl)
		require.Equal(t, LimitTotalSize, tl.Limit)
		require.Equal(t, uint64(1001), tl.Want)
		require.NoError(t, b.Delete([]byte("yz")))
		_, k := b.Get([]byte("yz"))
		require.Equal(t, KindDelete, k)
		require.Equal(t, 502, b.Size())
		require.NoError(t, b.Delete(make([]byte, 497)))
		err = b.Delete(make([]byte, 500))
		require.ErrorAs(t, err, &tl)
		require.Equal(t, LimitTotalSize, tl.Limit)
		require.Equal(t, 999, b.Size())
		require.Equal(t, 3, b.Len())
	})
}

// TestLimitsEntriesAndKeySize covers the limits client-go does not have.
func TestLimitsEntriesAndKeySize(t *testing.T) {
	b := New(WithLimits(Limits{MaxEntries: 2, MaxKeySize: 3}))
	var tl *TooLargeError
	require.ErrorAs(t, b.Set([]byte("abcd"), nil), &tl)
	require.Equal(t, LimitKeySize, tl.Limit)
	require.ErrorAs(t, b.UpdateFlags([]byte("abcd"), SetKeyLocked), &tl)
	require.NoError(t, b.Set([]byte("a"), []byte("1")))
	require.NoError(t, b.UpdateFlags([]byte("b"), SetKeyLocked))
	require.ErrorAs(t, b.Delete([]byte("c")), &tl)
	require.Equal(t, LimitEntries, tl.Limit)
	require.Equal(t, "membuf: entry count 3 exceeds limit 2", tl.Error())
	// Overwriting an existing key adds no entry.
	require.NoError(t, b.Delete([]byte("a")))
	require.NoError(t, b.Set([]byte("b"), []byte("2")))
	require.Equal(t, 2, b.Len())
	b.SetLimits(Limits{})
	require.NoError(t, b.Set([]byte("c"), nil))
	require.Equal(t, Limits{}, b.Limits())
}

// ports client-go internal/unionstore/memdb_test.go TestUnsetTemporaryFlag
func TestUnsetTemporaryFlag(t *testing.T) {
	b := New()
	key, value := []byte{1}, []byte{2}
	require.NoError(t, b.SetWithFlags(key, value, SetNeedConstraintCheckInPrewrite))
	require.NoError(t, b.Set(key, value))
	flags, ok := b.GetFlags(key)
	require.True(t, ok)
	require.False(t, flags.HasNeedConstraintCheckInPrewrite())
	// UpdateFlags is not a value write: it keeps the flag.
	require.NoError(t, b.UpdateFlags(key, SetNeedConstraintCheckInPrewrite))
	require.NoError(t, b.UpdateFlags(key, SetPrewriteOnly))
	flags, _ = b.GetFlags(key)
	require.True(t, flags.HasNeedConstraintCheckInPrewrite())
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

// ports client-go internal/unionstore/memdb_test.go TestIterNoResult
func TestIterNoResult(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.NoError(t, b.Set([]byte{1, 1}, []byte{1, 1}))
		check := func(lower, upper []byte) {
			require.False(t, b.Iter(lower, upper).Valid())
			require.False(t, b.IterReverse(upper, lower).Valid())
		}
		check([]byte{1, 1}, []byte{1, 1})
		check([]byte{1, 0, 0}, []byte{1, 0, 1})
		check([]byte{1, 0, 1}, []byte{1, 0, 0})
	})
}

// ports client-go internal/unionstore/memdb_test.go TestKeyValueOversize: no
// 64 KiB key bound of our own, MaxKeySize is the configured one.
func TestKeyValueOversize(t *testing.T) {
	b := New()
	key := make([]byte, 65535)
	over := make([]byte, 65536)
	require.NoError(t, b.Set(key, over))
	require.NoError(t, b.Set(over, key))
	b = New(WithLimits(Limits{MaxKeySize: 65535}))
	require.NoError(t, b.Set(key, over))
	var tl *TooLargeError
	require.ErrorAs(t, b.Set(over, key), &tl)
	require.Equal(t, uint64(65536), tl.Want)
}

// ports client-go internal/unionstore/memdb_test.go TestReadOnlyZeroMem
func TestReadOnlyZeroMem(t *testing.T) {
	eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
		b := newBuf()
		require.Zero(t, b.Mem())
		_, _ = b.Get([]byte("a"))
		require.False(t, b.Iter(nil, nil).Valid())
		require.Zero(t, b.Mem())
		require.NoError(t, b.Set([]byte("a"), []byte("b")))
		require.NotZero(t, b.Mem())
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

// TestTombstoneIsNotEmptyValue pins our choice (package doc): client-go
// treats an empty value as the tombstone (unionstore.IsTombstone) and refuses
// to Set one; here both exist and stay apart.
func TestTombstoneIsNotEmptyValue(t *testing.T) {
	b := New()
	require.NoError(t, b.Set([]byte("e"), []byte{}))
	require.NoError(t, b.Set([]byte("n"), nil))
	require.NoError(t, b.Delete([]byte("d")))
	for _, k := range []string{"e", "n"} {
		v, kind := b.Get([]byte(k))
		require.Equal(t, KindPut, kind)
		require.NotNil(t, v)
		require.Empty(t, v)
	}
	v, kind := b.Get([]byte("d"))
	require.Equal(t, KindDelete, kind)
	require.Nil(t, v)
	_, kind = b.Get([]byte("x"))
	require.Equal(t, KindNone, kind)
	require.Equal(t, 3, b.Len())
	require.Equal(t, 3, b.Size())
	kinds := []Kind{}
	for it := b.Iter(nil, nil); it.Valid(); it.Next() {
		kinds = append(kinds, it.Kind())
	}
	require.Equal(t, []Kind{KindDelete, KindPut, KindPut}, kinds)
	require.Equal(t, "delete", KindDelete.String())
}

// TestIteratorInvalidatedByWrite: client-go panics on a write during
// iteration (art_iterator.go checkSeqNo); we end the iteration with an error
// and the buffer stays intact.
func TestIteratorInvalidatedByWrite(t *testing.T) {
	writes := map[string]func(b *Buffer){
		"Set":         func(b *Buffer) { _ = b.Set([]byte("zz"), []byte("1")) },
		"Delete":      func(b *Buffer) { _ = b.Delete([]byte("a")) },
		"UpdateFlags": func(b *Buffer) { _ = b.UpdateFlags([]byte("a"), SetKeyLocked) },
		"Reset":       func(b *Buffer) { b.Reset() },
		"Revert":      func(b *Buffer) { b.RevertToCheckpoint(b.Checkpoint()) },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			eachIndex(t, func(t *testing.T, newBuf func(...Option) *Buffer) {
				b := newBuf()
				for i := 0; i < 100; i++ {
					require.NoError(t, b.Set(be32(i), be32(i)))
				}
				it := b.Iter(nil, nil)
				it.Next()
				write(b)
				require.False(t, it.Valid())
				require.ErrorIs(t, it.Err(), ErrIteratorInvalidated)
				require.Nil(t, it.Key())
				require.Nil(t, it.Value())
				it.Next()
				require.False(t, it.Valid())

				for i := 0; i < 100; i++ {
					require.NoError(t, b.Set(be32(i), be32(i)))
				}
				var gotErr error
				n := 0
				for _, err := range b.Entries(nil, nil) {
					if err != nil {
						gotErr = err
						break
					}
					if n == 0 {
						write(b)
					}
					n++
				}
				require.ErrorIs(t, gotErr, ErrIteratorInvalidated)
				require.Equal(t, 1, n)
			})
		})
	}
}

// TestEntriesWalk: the committer's walk sees values, tombstones and
// flags-only keys in key order with their flags.
func TestEntriesWalk(t *testing.T) {
	b := New()
	require.NoError(t, b.SetWithFlags([]byte("c"), []byte("3"), SetPresumeKeyNotExists))
	require.NoError(t, b.DeleteWithFlags([]byte("b"), SetAssertExist))
	require.NoError(t, b.UpdateFlags([]byte("a"), SetKeyLocked, SetKeyLockedValueExists))
	require.NoError(t, b.Set([]byte("d"), []byte("4")))
	var got []string
	for e, err := range b.Entries(nil, []byte("d")) {
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%s:%s:%q:%v", e.Key, e.Kind, e.Value, e.Flags))
	}
	require.Equal(t, []string{
		fmt.Sprintf("a:none:%q:%v", []byte(nil), FlagKeyLocked|FlagKeyLockedValueExists),
		fmt.Sprintf("b:delete:%q:%v", []byte(nil), FlagAssertExist),
		fmt.Sprintf("c:put:%q:%v", "3", FlagPresumeKeyNotExists|FlagNeedCheckExists),
	}, got)
	for range b.Entries(nil, nil) {
		break // early stop is honoured
	}
}

// TestReturnedSlicesStable: values handed out stay unchanged after
// overwrite, Cleanup and further writes (the arena never reuses bytes), and
// the caller's input slices are copied.
func TestReturnedSlicesStable(t *testing.T) {
	b := New()
	in := []byte("v1")
	require.NoError(t, b.Set([]byte("k"), in))
	in[0] = 'X'
	v1, _ := b.Get([]byte("k"))
	require.Equal(t, "v1", string(v1))
	h := b.Staging()
	require.NoError(t, b.Set([]byte("k"), []byte("v2")))
	v2, _ := b.Get([]byte("k"))
	b.Cleanup(h)
	for i := 0; i < 1000; i++ {
		require.NoError(t, b.Set(be32(i), bytes.Repeat([]byte{'z'}, 50)))
	}
	require.Equal(t, "v1", string(v1))
	require.Equal(t, "v2", string(v2))
	_ = append(v1, 'q') // capacity-limited: cannot scribble on the arena
	v, _ := b.Get([]byte("k"))
	require.Equal(t, "v1", string(v))
	require.True(t, errors.Is(&TooLargeError{}, ErrTooLarge))
}

// TestFlagsOps checks the multi-bit ops and the assertion encoding
// (client-go kv/keyflags.go ApplyFlagsOps).
func TestFlagsOps(t *testing.T) {
	f := ApplyFlagsOps(0, SetPresumeKeyNotExists)
	assert.True(t, f.HasPresumeKeyNotExists())
	assert.True(t, f.HasNeedCheckExists())
	f = ApplyFlagsOps(f, DelNeedCheckExists)
	assert.False(t, f.HasNeedCheckExists())
	f = ApplyFlagsOps(f, DelPresumeKeyNotExists)
	assert.Zero(t, f)

	f = ApplyFlagsOps(0, SetNeedConstraintCheckInPrewrite, SetKeyLockedValueExists)
	assert.True(t, f.HasLockedValueExists())
	assert.False(t, f.HasNeedConstraintCheckInPrewrite())
	f = ApplyFlagsOps(f, SetNeedConstraintCheckInPrewrite, SetKeyLockedValueNotExists)
	assert.Zero(t, f)
	assert.Zero(t, ApplyFlagsOps(0, SetNeedConstraintCheckInPrewrite, DelNeedConstraintCheckInPrewrite))

	f = ApplyFlagsOps(0, SetAssertExist)
	assert.True(t, f.HasAssertExist())
	assert.False(t, f.HasAssertNotExist())
	f = ApplyFlagsOps(f, SetAssertNotExist)
	assert.True(t, f.HasAssertNotExist())
	assert.False(t, f.HasAssertExist())
	f = ApplyFlagsOps(f, SetAssertUnknown)
	assert.True(t, f.HasAssertUnknown())
	assert.False(t, f.HasAssertExist() || f.HasAssertNotExist())
	assert.True(t, f.HasAssertionFlags())
	f = ApplyFlagsOps(f, SetAssertNone)
	assert.False(t, f.HasAssertionFlags())

	f = ApplyFlagsOps(0, SetKeyLocked, SetPrewriteOnly, SetIgnoredIn2PC, SetNewlyInserted)
	assert.True(t, f.HasLocked() && f.HasPrewriteOnly() && f.HasIgnoredIn2PC() && f.HasNewlyInserted())
	assert.Equal(t, FlagKeyLocked, f.Persistent())
	assert.False(t, ApplyFlagsOps(f, DelKeyLocked).HasLocked())
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
