package membuf

import (
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tikvgo/tikv/kv"
)

// fakeSnapshot is a sorted committed store, scanned like a snapshot scan.
type fakeSnapshot map[string]string

func (s fakeSnapshot) scan(lower, upper []byte, reverse bool) iter.Seq2[kv.KeyValue, error] {
	keys := make([]string, 0, len(s))
	for k := range s {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	return func(yield func(kv.KeyValue, error) bool) {
		for _, k := range keys {
			if !yield(kv.KeyValue{Key: kv.Key(k), Value: []byte(s[k])}, nil) {
				return
			}
		}
	}
}

func unionKeys(t *testing.T, seq iter.Seq2[kv.KeyValue, error]) (keys, vals []string) {
	t.Helper()
	for p, err := range seq {
		require.NoError(t, err)
		keys = append(keys, string(p.Key))
		vals = append(vals, string(p.Value))
	}
	return keys, vals
}

func union(b *Buffer, s fakeSnapshot, lower, upper []byte) iter.Seq2[kv.KeyValue, error] {
	return b.Union(lower, upper, s.scan(lower, upper, false))
}

func unionRev(b *Buffer, s fakeSnapshot, upper, lower []byte) iter.Seq2[kv.KeyValue, error] {
	return b.UnionReverse(upper, lower, s.scan(lower, upper, true))
}

// ports client-go internal/unionstore/union_store_test.go TestUnionStoreGetSet
// (the union read of one key is Get, then the snapshot on KindNone).
func TestUnionStoreGetSet(t *testing.T) {
	s := fakeSnapshot{"1": "1"}
	b := New()
	keys, vals := unionKeys(t, union(b, s, nil, nil))
	require.Equal(t, []string{"1"}, keys)
	require.Equal(t, []string{"1"}, vals)
	require.NoError(t, b.Set([]byte("1"), []byte("2")))
	_, vals = unionKeys(t, union(b, s, nil, nil))
	require.Equal(t, []string{"2"}, vals)
	require.Equal(t, 2, b.Size())
	require.Equal(t, 1, b.Len())
}

// ports client-go internal/unionstore/union_store_test.go TestUnionStoreDelete
func TestUnionStoreDelete(t *testing.T) {
	s := fakeSnapshot{"1": "1"}
	b := New()
	require.NoError(t, b.Delete([]byte("1")))
	keys, _ := unionKeys(t, union(b, s, nil, nil))
	require.Empty(t, keys)
	require.NoError(t, b.Set([]byte("1"), []byte("2")))
	keys, vals := unionKeys(t, union(b, s, nil, nil))
	require.Equal(t, []string{"1"}, keys)
	require.Equal(t, []string{"2"}, vals)
}

// ports client-go internal/unionstore/union_store_test.go TestUnionStoreSeek
func TestUnionStoreSeek(t *testing.T) {
	s := fakeSnapshot{"1": "1", "2": "2", "3": "3"}
	b := New()
	keys, vals := unionKeys(t, union(b, s, nil, nil))
	require.Equal(t, []string{"1", "2", "3"}, keys)
	require.Equal(t, []string{"1", "2", "3"}, vals)
	keys, _ = unionKeys(t, union(b, s, []byte("2"), nil))
	require.Equal(t, []string{"2", "3"}, keys)
	require.NoError(t, b.Set([]byte("4"), []byte("4")))
	keys, vals = unionKeys(t, union(b, s, []byte("2"), nil))
	require.Equal(t, []string{"2", "3", "4"}, keys)
	require.Equal(t, []string{"2", "3", "4"}, vals)
	require.NoError(t, b.Delete([]byte("3")))
	keys, _ = unionKeys(t, union(b, s, []byte("2"), nil))
	require.Equal(t, []string{"2", "4"}, keys)
}

// ports client-go internal/unionstore/union_store_test.go TestUnionStoreIterReverse
func TestUnionStoreIterReverse(t *testing.T) {
	s := fakeSnapshot{"1": "1", "2": "2", "3": "3"}
	b := New()
	keys, _ := unionKeys(t, unionRev(b, s, nil, nil))
	require.Equal(t, []string{"3", "2", "1"}, keys)
	keys, _ = unionKeys(t, unionRev(b, s, []byte("3"), []byte("1")))
	require.Equal(t, []string{"2", "1"}, keys)
	keys, _ = unionKeys(t, unionRev(b, s, []byte("3"), nil))
	require.Equal(t, []string{"2", "1"}, keys)
	require.NoError(t, b.Set([]byte("0"), []byte("0")))
	keys, _ = unionKeys(t, unionRev(b, s, []byte("3"), nil))
	require.Equal(t, []string{"2", "1", "0"}, keys)
	require.NoError(t, b.Delete([]byte("1")))
	keys, _ = unionKeys(t, unionRev(b, s, []byte("3"), nil))
	require.Equal(t, []string{"2", "0"}, keys)
	keys, _ = unionKeys(t, unionRev(b, s, []byte("3"), []byte("1")))
	require.Equal(t, []string{"2"}, keys)
}

// TestUnionIterShadowing: every case of client-go union_iter.go updateCur —
// buffered value shadows the snapshot, tombstone hides it, tombstone without
// counterpart is skipped, flags-only keys are invisible, empty values show.
func TestUnionIterShadowing(t *testing.T) {
	s := fakeSnapshot{"a": "sa", "b": "sb", "d": "sd", "f": "sf"}
	b := New()
	require.NoError(t, b.Set([]byte("a"), []byte("ba")))         // shadows
	require.NoError(t, b.Delete([]byte("b")))                    // hides
	require.NoError(t, b.Delete([]byte("c")))                    // tombstone, no snapshot key
	require.NoError(t, b.UpdateFlags([]byte("d"), SetKeyLocked)) // flags-only: snapshot shows
	require.NoError(t, b.Set([]byte("e"), []byte{}))             // empty value, buffer only
	require.NoError(t, b.Delete([]byte("g")))                    // trailing tombstone
	keys, vals := unionKeys(t, union(b, s, nil, nil))
	require.Equal(t, []string{"a", "d", "e", "f"}, keys)
	require.Equal(t, []string{"ba", "sd", "", "sf"}, vals)
	keys, vals = unionKeys(t, unionRev(b, s, nil, nil))
	require.Equal(t, []string{"f", "e", "d", "a"}, keys)
	require.Equal(t, []string{"sf", "", "sd", "ba"}, vals)
	keys, _ = unionKeys(t, union(b, s, []byte("b"), []byte("f")))
	require.Equal(t, []string{"d", "e"}, keys)
}

// TestUnionIterErrors: a snapshot error is yielded once and ends the walk;
// a buffer write during the walk ends it with ErrIteratorInvalidated; an
// early break stops the snapshot scan.
func TestUnionIterErrors(t *testing.T) {
	boom := errors.New("scan failed")
	b := New()
	require.NoError(t, b.Set([]byte("a"), []byte("1")))
	failing := func(yield func(kv.KeyValue, error) bool) {
		if yield(kv.KeyValue{Key: kv.Key("0"), Value: []byte("0")}, nil) {
			yield(kv.KeyValue{}, boom)
		}
	}
	var got []string
	var gotErr error
	for p, err := range b.Union(nil, nil, failing) {
		if err != nil {
			gotErr = err
			continue
		}
		got = append(got, string(p.Key))
	}
	require.ErrorIs(t, gotErr, boom)
	require.Equal(t, []string{"0"}, got)

	s := fakeSnapshot{"b": "2", "c": "3"}
	gotErr = nil
	n := 0
	for _, err := range union(b, s, nil, nil) {
		if err != nil {
			gotErr = err
			continue
		}
		n++
		require.NoError(t, b.Set([]byte("z"), []byte("z")))
	}
	require.ErrorIs(t, gotErr, ErrIteratorInvalidated)
	require.Equal(t, 1, n)

	scanned := 0
	counting := func(yield func(kv.KeyValue, error) bool) {
		for _, k := range []string{"b", "c", "d"} {
			scanned++
			if !yield(kv.KeyValue{Key: kv.Key(k)}, nil) {
				return
			}
		}
	}
	for p := range b.Union(nil, nil, counting) {
		if string(p.Key) == "b" {
			break
		}
	}
	// "b" is yielded before the next snapshot pair is pulled, so the break
	// leaves "c" and "d" unscanned.
	require.Equal(t, 1, scanned)
}
