package kv

import "bytes"

// Key is a TiKV key. An empty Key means "the start of the key space" when it
// begins a range and "the end of the key space" when it ends one.
type Key []byte

// Clone returns a copy of k that does not share memory with it.
func (k Key) Clone() Key {
	if k == nil {
		return nil
	}
	return append(Key{}, k...)
}

// Next returns the smallest key greater than k: k followed by a zero byte.
// Scans resume from Next(lastKey).
func (k Key) Next() Key {
	next := make(Key, len(k)+1)
	copy(next, k)
	return next
}

// PrefixNext returns the smallest key that does not have k as a prefix, or
// nil (the end of the key space) when no such key exists (k is all 0xff).
func (k Key) PrefixNext() Key {
	next := k.Clone()
	for i := len(next) - 1; i >= 0; i-- {
		next[i]++
		if next[i] != 0 {
			return next[:i+1]
		}
	}
	return nil
}

// Compare orders keys bytewise, like bytes.Compare.
func (k Key) Compare(other Key) int { return bytes.Compare(k, other) }

// KeyRange is the half-open range [Start, End). An empty End means the range
// runs to the end of the key space.
type KeyRange struct {
	Start Key
	End   Key
}

// Contains reports whether key lies in [Start, End).
func (r KeyRange) Contains(key []byte) bool {
	return bytes.Compare(key, r.Start) >= 0 && (len(r.End) == 0 || bytes.Compare(key, r.End) < 0)
}

// KeyValue is one key and its value, as returned by reads and scans.
type KeyValue struct {
	Key   Key
	Value []byte
}

// InRange reports whether key lies in [start, end) where an empty end is
// unbounded. It is the one place this convention is spelt out.
func InRange(key, start, end []byte) bool {
	return KeyRange{Start: start, End: end}.Contains(key)
}
