package membuf

import (
	"bytes"
	"iter"

	"github.com/tikvgo/tikv/kv"
)

// Union merges the buffer's writes in [lower, upper) over a snapshot scan of
// the same range (client-go's UnionIter, J5): keys come out in ascending
// order; a buffered value shadows the snapshot's value for the same key, a
// buffered tombstone hides it, and a tombstone with no snapshot counterpart
// is skipped (client-go logs it as "delete a record not exists?"; here it is
// ordinary: the transaction may delete a key it never read). Flags-only keys
// do not appear.
//
// snapshot must yield ascending keys within [lower, upper); an error from it
// is yielded and ends the iteration. If the buffer is modified during the
// iteration, ErrIteratorInvalidated is yielded and the iteration ends.
// Breaking out of the loop stops the snapshot scan.
func (b *Buffer) Union(lower, upper []byte, snapshot iter.Seq2[kv.KeyValue, error]) iter.Seq2[kv.KeyValue, error] {
	return func(yield func(kv.KeyValue, error) bool) {
		unionMerge(b.Iter(lower, upper), snapshot, false, yield)
	}
}

// UnionReverse is Union in descending order over [lower, upper); snapshot
// must yield descending keys (a reverse scan). The argument order follows
// IterReverse.
func (b *Buffer) UnionReverse(upper, lower []byte, snapshot iter.Seq2[kv.KeyValue, error]) iter.Seq2[kv.KeyValue, error] {
	return func(yield func(kv.KeyValue, error) bool) {
		unionMerge(b.IterReverse(upper, lower), snapshot, true, yield)
	}
}

func unionMerge(dirty *Iterator, snapshot iter.Seq2[kv.KeyValue, error], reverse bool, yield func(kv.KeyValue, error) bool) {
	next, stop := iter.Pull2(snapshot)
	defer stop()
	snap, serr, sok := next()
	for {
		if sok && serr != nil {
			yield(kv.KeyValue{}, serr)
			return
		}
		dok := dirty.Valid()
		if err := dirty.Err(); err != nil {
			yield(kv.KeyValue{}, err)
			return
		}
		if !dok && !sok {
			return
		}
		cmp := -1 // <0: the buffer's key comes first
		if !dok {
			cmp = 1
		} else if sok {
			cmp = bytes.Compare(dirty.Key(), snap.Key)
			if reverse {
				cmp = -cmp
			}
		}
		if cmp > 0 {
			if !yield(snap, nil) {
				return
			}
			snap, serr, sok = next()
			continue
		}
		if cmp == 0 {
			snap, serr, sok = next()
		}
		if dirty.Kind() == KindPut {
			if !yield(kv.KeyValue{Key: dirty.Key(), Value: dirty.Value()}, nil) {
				return
			}
		}
		dirty.Next()
	}
}
