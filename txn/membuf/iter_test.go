package membuf

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

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
