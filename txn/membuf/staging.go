package membuf

import (
	"cmp"
	"fmt"
	"slices"
)

// Staging opens a stage (a savepoint) and returns its handle: the 1-based
// depth of the stage stack, as in client-go. Writes made after Staging can
// be rolled back with Cleanup(h) or kept with Release(h).
func (b *Buffer) Staging() int {
	b.stages = append(b.stages, len(b.undo))
	return len(b.stages)
}

// Stages is the number of open stages.
func (b *Buffer) Stages() int { return len(b.stages) }

// Release closes stage h, keeping its writes: they now belong to the parent
// stage (or to the buffer itself when h is 1). Handle 0 is a no-op, as in
// client-go; any h other than the innermost open stage is a programming
// error and panics (client-go panics too: releasing out of order would merge
// writes of a stage the caller still means to roll back).
func (b *Buffer) Release(h int) {
	if h == 0 {
		return
	}
	if h != len(b.stages) {
		panic(fmt.Sprintf("membuf: Release(%d) with %d open stages", h, len(b.stages)))
	}
	if h == 1 && len(b.undo) != b.stages[0] {
		b.dirty = true
	}
	b.stages = b.stages[:h-1]
	b.writeSeq++
	if h == 1 {
		b.snapSeq++
	}
}

// Cleanup closes stage h and rolls back every value written since it was
// opened; keys that had no value before the stage lose their non-persistent
// flags, and the key itself when no persistent flag remains (client-go
// art.go RevertVAddr). Other flag changes are kept: flags describe locks and
// checks TiKV already performed, which a statement rollback cannot undo; a
// flags-only key created inside the stage survives.
//
// Handle 0 and handles beyond the open stages are no-ops (the stage was
// already cleaned up by an outer call); a handle of an outer stage while an
// inner one is open panics, as in client-go.
func (b *Buffer) Cleanup(h int) {
	if h == 0 || h > len(b.stages) {
		return
	}
	if h < len(b.stages) {
		panic(fmt.Sprintf("membuf: Cleanup(%d) with %d open stages", h, len(b.stages)))
	}
	b.revert(b.stages[h-1])
	b.stages = b.stages[:h-1]
	b.writeSeq++
	if h == 1 {
		b.snapSeq++
	}
}

// revert undoes value writes back to undo length pos, newest first.
func (b *Buffer) revert(pos int) {
	b.noteTruncation(pos)
	for i := len(b.undo) - 1; i >= pos; i-- {
		r := b.undo[i]
		e := &b.entries[r.id]
		b.size += int(r.old.n) - int(e.val.n)
		e.val, e.last = r.old, r.prev
		if r.old.isNone() {
			e.flags = e.flags.Persistent()
			if e.flags == 0 {
				e.present = false
				b.len--
				b.size -= int(e.key.n)
			}
		}
	}
	clear(b.undo[pos:])
	b.undo = b.undo[:pos]
}

// Checkpoint is a position in the buffer's write history, for
// RevertToCheckpoint. It is a value; keep as many as needed.
type Checkpoint struct {
	pos   int
	gen   uint64
	epoch uint64 // b.reverts when taken
}

// truncation records that a rollback cut the history to pos; epoch numbers
// the rollback. Buffer.truncs keeps only the truncations that can still
// matter, with pos increasing along the slice.
type truncation struct {
	epoch uint64
	pos   int
}

func (b *Buffer) noteTruncation(pos int) {
	b.reverts++
	// An older truncation at or above pos tells a checkpoint nothing this
	// one does not: any checkpoint it invalidates, this one does too.
	for n := len(b.truncs); n > 0 && b.truncs[n-1].pos >= pos; n-- {
		b.truncs = b.truncs[:n-1]
	}
	b.truncs = append(b.truncs, truncation{epoch: b.reverts, pos: pos})
}

// Checkpoint returns the current position in the write history.
func (b *Buffer) Checkpoint() Checkpoint {
	b.checkpointed = true
	return Checkpoint{pos: len(b.undo), gen: b.gen, epoch: b.reverts}
}

// stale reports whether the history cp points into was rolled back (below
// cp) since cp was taken, or the buffer was Reset.
func (b *Buffer) stale(cp Checkpoint) bool {
	if cp.gen != b.gen || cp.pos > len(b.undo) {
		return true
	}
	i, _ := slices.BinarySearchFunc(b.truncs, cp.epoch+1, func(t truncation, e uint64) int {
		return cmp.Compare(t.epoch, e)
	})
	return i < len(b.truncs) && b.truncs[i].pos < cp.pos
}

// RevertToCheckpoint rolls back every value written since cp, with the same
// flag rules as Cleanup, without closing any stage. It panics when cp is
// stale — from before a Reset, or a rollback (Cleanup or another
// RevertToCheckpoint) has since gone below it, so the state it named no
// longer exists — or when cp lies before the innermost open stage began
// (that rollback is Cleanup's). client-go does not detect either misuse.
func (b *Buffer) RevertToCheckpoint(cp Checkpoint) {
	if b.stale(cp) {
		panic("membuf: RevertToCheckpoint with a stale checkpoint")
	}
	if n := len(b.stages); n > 0 && cp.pos < b.stages[n-1] {
		panic("membuf: RevertToCheckpoint across an open stage")
	}
	b.revert(cp.pos)
	b.writeSeq++
	if len(b.stages) == 0 {
		b.snapSeq++
	}
}

// snapshotVal returns e's value as of the start of the outermost open stage
// (the current value when no stage is open) by walking its undo chain back
// to that point.
func (b *Buffer) snapshotVal(e *entry) ref {
	if !e.present {
		return refNone
	}
	v := e.val
	if len(b.stages) == 0 {
		return v
	}
	base := uint32(b.stages[0])
	for r := e.last; r != noUndo && r >= base; r = b.undo[r].prev {
		v = b.undo[r].old
	}
	return v
}

// SnapshotGet is Get on the stage-0 view: what the buffer held before the
// outermost open stage began (client-go's MemBuffer snapshot, J3). With no
// open stage it equals Get. Flags-only keys read as KindNone.
func (b *Buffer) SnapshotGet(key []byte) ([]byte, Kind) {
	id, ok := b.idx.lookup(key)
	if !ok {
		return nil, KindNone
	}
	v := b.snapshotVal(&b.entries[id])
	return b.value(v), v.kind()
}

// InspectStage calls f once for every key whose value was written since
// stage h was opened, with the key's current flags and value (nil for a
// tombstone), in write order of each key's latest write (client-go's
// InspectStage, used to check what a statement wrote). f must not modify
// the buffer. h must be an open stage.
func (b *Buffer) InspectStage(h int, f func(key []byte, flags Flags, kind Kind, value []byte)) {
	if h < 1 || h > len(b.stages) {
		panic(fmt.Sprintf("membuf: InspectStage(%d) with %d open stages", h, len(b.stages)))
	}
	for i := b.stages[h-1]; i < len(b.undo); i++ {
		id := b.undo[i].id
		e := &b.entries[id]
		if e.last != uint32(i) {
			continue // a later write of this key follows
		}
		f(b.keys.get(e.key), e.flags, e.val.kind(), b.value(e.val))
	}
}
