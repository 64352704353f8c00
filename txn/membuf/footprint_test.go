package membuf

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ports client-go internal/unionstore/memdb_test.go
// TestSetMemoryFootprintChangeHook: the hook hears the footprint grow, and
// each figure it hears is what Mem reports at that moment.
func TestSetMemoryFootprintChangeHook(t *testing.T) {
	b := New()
	require.False(t, b.MemHookSet())
	var heard []uint64
	b.SetMemoryFootprintChangeHook(func(mem uint64) {
		heard = append(heard, mem)
		require.Equal(t, uint64(b.Mem()), mem)
	})
	require.True(t, b.MemHookSet())
	require.Empty(t, heard)

	require.NoError(t, b.Set([]byte{1}, []byte{1}))
	require.NotEmpty(t, heard)
	require.NotZero(t, heard[len(heard)-1])

	// Writes that fit in the chunks already reserved change nothing the
	// hook must hear; a value larger than a chunk reserves more.
	n := len(heard)
	require.NoError(t, b.Set([]byte{1}, []byte{2}))
	require.Len(t, heard, n)
	require.NoError(t, b.Set([]byte{2}, bytes.Repeat([]byte{'v'}, 64<<10)))
	require.Greater(t, len(heard), n)
	require.Greater(t, heard[len(heard)-1], heard[n-1])

	b.Reset()
	require.Equal(t, uint64(0), heard[len(heard)-1], "Reset gives the memory back")

	b.SetMemoryFootprintChangeHook(nil)
	require.False(t, b.MemHookSet())
	require.NoError(t, b.Set([]byte{3}, []byte{3}))
}

// Ports client-go internal/unionstore/memdb_test.go TestSelectValueHistory.
func TestSelectValueHistory(t *testing.T) {
	b := New()
	k := []byte{1}
	eq := func(want []byte) func([]byte) bool {
		return func(v []byte) bool { return bytes.Equal(v, want) }
	}
	require.NoError(t, b.Set(k, []byte{1}))
	h := b.Staging()
	require.NoError(t, b.Set(k, []byte{1, 1}))

	v, err := b.SelectValueHistory(k, eq([]byte{1}))
	require.NoError(t, err)
	require.Equal(t, []byte{1}, v)
	v, err = b.SelectValueHistory(k, eq([]byte{1, 1}))
	require.NoError(t, err)
	require.Equal(t, []byte{1, 1}, v)
	v, err = b.SelectValueHistory(k, eq([]byte{1, 1, 1}))
	require.NoError(t, err)
	require.Nil(t, v)
	_, err = b.SelectValueHistory([]byte{2}, func([]byte) bool { return false })
	require.ErrorIs(t, err, ErrNotBuffered)

	b.Cleanup(h)
	v, err = b.SelectValueHistory(k, eq([]byte{1}))
	require.NoError(t, err)
	require.Equal(t, []byte{1}, v)
	v, err = b.SelectValueHistory(k, eq([]byte{1, 1}))
	require.NoError(t, err)
	require.Nil(t, v, "a rolled-back value is no longer history")
}

// The history walks newest first and stops where the key had no value; a
// tombstone is offered to pred as nil; a flags-only key has no history.
func TestSelectValueHistoryOrderAndTombstones(t *testing.T) {
	b := New()
	k := []byte("k")
	h := b.Staging()
	for i := range 3 {
		require.NoError(t, b.Set(k, []byte(strconv.Itoa(i))))
	}
	require.NoError(t, b.Delete(k))
	var seen []string
	v, err := b.SelectValueHistory(k, func(v []byte) bool {
		if v == nil {
			seen = append(seen, "<del>")
		} else {
			seen = append(seen, string(v))
		}
		return false
	})
	require.NoError(t, err)
	require.Nil(t, v)
	require.Equal(t, []string{"<del>", "2", "1", "0"}, seen)
	b.Release(h)

	require.NoError(t, b.UpdateFlags([]byte("flags-only"), SetKeyLocked))
	_, err = b.SelectValueHistory([]byte("flags-only"), func([]byte) bool { return true })
	require.True(t, errors.Is(err, ErrNotBuffered))
}

// Ports client-go internal/unionstore/memdb_test.go TestMemDBLeafFragmentation
// in what it protects against: rewriting the same keys in statement after
// statement that is rolled back must not grow the index's key storage. Our
// key arena is reused because a rolled-back key keeps its index entry; value
// bytes are kept until Reset by design (slices handed out stay valid, see
// the arena), so the value arena is measured apart.
func TestRolledBackStagesReuseKeys(t *testing.T) {
	b := New()
	keysMem := -1
	for range 10 {
		h := b.Staging()
		for k := range 100 {
			require.NoError(t, b.Set([]byte(strings.Repeat(strconv.Itoa(k), 256)), []byte("value")))
		}
		b.Cleanup(h)
		if keysMem < 0 {
			keysMem = b.keys.capacity()
		}
		require.Equal(t, keysMem, b.keys.capacity())
		require.Equal(t, 0, b.Len())
	}
}
