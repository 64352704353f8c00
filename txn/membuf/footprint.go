package membuf

import "errors"

// ErrNotBuffered is returned by SelectValueHistory for a key the buffer does
// not hold.
var ErrNotBuffered = errors.New("membuf: key not buffered")

// SetMemoryFootprintChangeHook makes the buffer call hook with the new Mem
// figure each time a write or Reset changes it (client-go's memdb hook, which
// TiDB uses to charge a session's memory tracker). The hook runs on the
// writer's goroutine, inside the write, so it must be quick and must not
// touch the buffer. A nil hook removes it.
func (b *Buffer) SetMemoryFootprintChangeHook(hook func(mem uint64)) {
	b.memHook = hook
	b.memReported = b.Mem()
}

// MemHookSet reports whether a footprint hook is installed.
func (b *Buffer) MemHookSet() bool { return b.memHook != nil }

// noteMem tells the hook about a changed footprint. Mem only grows between
// Resets (arenas and tables are never shrunk), so the hook hears about each
// new chunk or table growth, not about every write.
func (b *Buffer) noteMem() {
	if b.memHook == nil {
		return
	}
	if m := b.Mem(); m != b.memReported {
		b.memReported = m
		b.memHook(uint64(m))
	}
}

// SelectValueHistory walks the values key has held in this buffer, newest
// first, and returns the first one pred accepts, or nil when none does
// (client-go's memdb SelectValueHistory, used to find what a key held before
// the current statement). pred sees nil for a tombstone. It returns
// ErrNotBuffered when the key holds no value at all in the buffer.
//
// The history reaches back as far as the undo log does: the current value,
// and every value that was overwritten while a stage was open or after the
// first Checkpoint. A write made with neither keeps no undo record (nothing
// could roll it back), so a value it replaced is gone — and a value rolled
// back by Cleanup or RevertToCheckpoint is no longer history either.
func (b *Buffer) SelectValueHistory(key []byte, pred func(value []byte) bool) ([]byte, error) {
	id, ok := b.idx.lookup(key)
	if !ok || !b.entries[id].present || b.entries[id].val.isNone() {
		return nil, ErrNotBuffered
	}
	e := &b.entries[id]
	if v := b.value(e.val); pred(v) {
		return v, nil
	}
	for r := e.last; r != noUndo; r = b.undo[r].prev {
		old := b.undo[r].old
		if old.isNone() {
			break // before this write the key held no value
		}
		if v := b.value(old); pred(v) {
			return v, nil
		}
	}
	return nil, nil
}
