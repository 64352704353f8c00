package membuf

import (
	"bytes"
	"iter"
)

// iterMode selects which entries an Iterator yields.
type iterMode uint8

const (
	modeValues   iterMode = iota // keys with a value or tombstone
	modeAll                      // every buffered key, flags-only included
	modeSnapshot                 // the stage-0 view: keys with a value or tombstone then
)

// Iterator walks buffered keys in [lower, upper) in ascending order, or in
// descending order for IterReverse. Use it as
//
//	for it := b.Iter(lo, hi); it.Valid(); it.Next() { ... }
//	if err := it.Err(); err != nil { ... }
//
// A write to the buffer (Set, Delete, UpdateFlags, Staging's siblings
// Release/Cleanup, RevertToCheckpoint, Reset) ends the iteration: Valid
// turns false and Err returns ErrIteratorInvalidated. Stage-0 iterators
// (SnapshotIter) are only ended by changes to the stage-0 view; writes
// inside a stage leave them running (they re-seek past the last key seen).
type Iterator struct {
	b            *Buffer
	lower, upper []byte
	reverse      bool
	mode         iterMode
	c            cursor
	seq          uint64 // writeSeq (snapSeq in modeSnapshot) at creation
	writeSeq     uint64 // writeSeq the cursor was positioned at
	val          ref
	err          error
}

// Iter returns an iterator over the keys in [lower, upper) that have a
// value or a tombstone (nil bounds are open). Flags-only keys are skipped,
// as in client-go's Iter; Entries yields them.
func (b *Buffer) Iter(lower, upper []byte) *Iterator {
	return b.newIter(lower, upper, false, modeValues)
}

// IterReverse is Iter in descending order, from the last key < upper down
// to lower (inclusive). The argument order follows client-go.
func (b *Buffer) IterReverse(upper, lower []byte) *Iterator {
	return b.newIter(lower, upper, true, modeValues)
}

// IterWithFlags is Iter including flags-only keys.
func (b *Buffer) IterWithFlags(lower, upper []byte) *Iterator {
	return b.newIter(lower, upper, false, modeAll)
}

// SnapshotIter iterates the stage-0 view (see SnapshotGet) over [lower,
// upper), tombstones included.
func (b *Buffer) SnapshotIter(lower, upper []byte) *Iterator {
	return b.newIter(lower, upper, false, modeSnapshot)
}

// SnapshotIterReverse is SnapshotIter in descending order.
func (b *Buffer) SnapshotIterReverse(upper, lower []byte) *Iterator {
	return b.newIter(lower, upper, true, modeSnapshot)
}

func (b *Buffer) newIter(lower, upper []byte, reverse bool, mode iterMode) *Iterator {
	it := &Iterator{b: b, lower: lower, upper: upper, reverse: reverse, mode: mode}
	it.seq = it.currentSeq()
	it.writeSeq = b.writeSeq
	if upper != nil && lower != nil && bytes.Compare(lower, upper) >= 0 {
		return it
	}
	if reverse {
		b.idx.seekLT(&it.c, upper)
	} else {
		b.idx.seekGE(&it.c, lower)
	}
	it.settle()
	return it
}

func (it *Iterator) currentSeq() uint64 {
	if it.mode == modeSnapshot {
		return it.b.snapSeq
	}
	return it.b.writeSeq
}

// settle skips entries the mode hides and stops at the bound.
func (it *Iterator) settle() {
	for ; it.c.valid; it.step() {
		k := it.b.keyOf(it.c.id)
		if it.reverse {
			if it.lower != nil && bytes.Compare(k, it.lower) < 0 {
				break
			}
		} else if it.upper != nil && bytes.Compare(k, it.upper) >= 0 {
			break
		}
		e := &it.b.entries[it.c.id]
		if !e.present {
			continue
		}
		switch it.mode {
		case modeValues:
			it.val = e.val
		case modeAll:
			it.val = e.val
			return
		case modeSnapshot:
			it.val = it.b.snapshotVal(e)
		}
		if !it.val.isNone() {
			return
		}
	}
	it.c.valid = false
}

func (it *Iterator) step() {
	if it.reverse {
		it.b.idx.prev(&it.c)
	} else {
		it.b.idx.next(&it.c)
	}
}

// check ends the iteration if the buffer changed under it.
func (it *Iterator) check() bool {
	if it.err != nil {
		return false
	}
	if it.currentSeq() != it.seq {
		it.err = ErrIteratorInvalidated
		it.c.valid = false
		return false
	}
	return true
}

// Valid reports whether the iterator is positioned at a key.
func (it *Iterator) Valid() bool { return it.check() && it.c.valid }

// Key returns the current key (nil when not Valid).
func (it *Iterator) Key() []byte {
	if !it.Valid() {
		return nil
	}
	return it.b.keyOf(it.c.id)
}

// Value returns the current value; nil for a tombstone or flags-only key.
func (it *Iterator) Value() []byte {
	if !it.Valid() {
		return nil
	}
	return it.b.value(it.val)
}

// Kind returns what the buffer holds for the current key (KindNone only for
// a flags-only key of IterWithFlags).
func (it *Iterator) Kind() Kind {
	if !it.Valid() {
		return KindNone
	}
	return it.val.kind()
}

// Flags returns the current key's flags (0 when not Valid).
func (it *Iterator) Flags() Flags {
	if !it.Valid() {
		return 0
	}
	return it.b.entries[it.c.id].flags
}

// Next moves to the next key; a no-op once the iterator is not Valid.
func (it *Iterator) Next() {
	if !it.Valid() {
		return
	}
	if it.b.writeSeq != it.writeSeq {
		// Only a stage-0 iterator gets here (others were invalidated):
		// an insert inside a stage may have reshaped the index, so find
		// the current key again before stepping.
		k := it.b.keyOf(it.c.id)
		if it.reverse {
			it.b.idx.seekLT(&it.c, k)
		} else {
			it.b.idx.seekGE(&it.c, k)
			it.step()
		}
		it.writeSeq = it.b.writeSeq
		it.settle()
		return
	}
	it.step()
	it.settle()
}

// Err returns ErrIteratorInvalidated if the buffer was modified during the
// iteration, else nil.
func (it *Iterator) Err() error { it.check(); return it.err }

// Entry is one buffered key as Entries yields it.
type Entry struct {
	Key   []byte
	Value []byte // nil unless Kind is KindPut
	Kind  Kind
	Flags Flags
}

// Entries yields every buffered key in [lower, upper) in ascending order,
// flags-only keys included, with its value kind and flags: the walk a
// committer makes to build mutations. If the buffer is modified during the
// walk it yields ErrIteratorInvalidated once and stops.
func (b *Buffer) Entries(lower, upper []byte) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		it := b.IterWithFlags(lower, upper)
		for ; it.Valid(); it.Next() {
			e := Entry{Key: it.Key(), Value: it.Value(), Kind: it.Kind(), Flags: it.Flags()}
			if !yield(e, nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(Entry{}, err)
		}
	}
}
