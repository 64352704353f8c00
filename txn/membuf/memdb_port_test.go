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

// ports client-go internal/unionstore/memdb_test.go TestFlags and the same
// case in internal/unionstore/rbt/rbt_test.go
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
