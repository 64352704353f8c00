package mocktikv

import (
	"bytes"
	"encoding/binary"
	"hash/crc64"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/codec"
)

// Column families of the raw engine. TiKV's API V1 raw commands accept ""
// (meaning default) and these three names (src/storage/mod.rs rawkv_cf).
const (
	cfDefault = "default"
	cfLock    = "lock"
	cfWrite   = "write"
)

// rawEngine is the cluster's one raw key-value store. Replication is
// logical: every store reads and writes the same engine, so a follower that
// serves a replica read sees exactly what the leader wrote.
//
// Keys are kept in the stored form of the cluster's API version (storedKey)
// and values in its stored encoding (encodeValue), as TiKV keeps them in
// RocksDB, so region boundaries compare against the same bytes TiKV's
// do. The methods take stored keys and user values and return user keys and
// user values: the API version's encoding stays inside the engine.
//
// One difference from TiKV's V2: TiKV appends a causal timestamp to every
// written key and reads the newest version; no RawKV request can read an
// older version, so the engine keeps only the newest one and omits the
// suffix.
//
// Each column family is a sorted slice of entries. Point writes insert with a
// binary search; batch writes sort the batch and merge it in one pass, so a
// 10,000-key batch costs O((n+m) log m), not O(n*m).
type rawEngine struct {
	api kvrpcpb.APIVersion // storage.api-version; fixed at construction

	mu  sync.RWMutex
	cfs map[string]*sortedKV
}

func newRawEngine(cfg rawConfig) *rawEngine {
	return &rawEngine{api: cfg.apiVersion, cfs: map[string]*sortedKV{
		cfDefault: {},
		cfLock:    {},
		cfWrite:   {},
	}}
}

// rawNow is TiKV's ttl_current_ts (engine_traits raw_ttl.rs): TTLs are judged
// by the wall clock in whole Unix seconds. Under testing/synctest it is the
// bubble's virtual clock.
func rawNow() uint64 { return uint64(time.Now().Unix()) }

// expireTS is ttl_to_expire_ts: a zero ttl means "never expires" (0), any
// other is now + ttl, saturating.
func expireTS(ttl, now uint64) uint64 {
	if ttl == 0 {
		return 0
	}
	if ttl > math.MaxUint64-now {
		return math.MaxUint64
	}
	return now + ttl
}

// storedKey is KvFormat::encode_raw_key without a timestamp: V1 and V1TTL
// keep raw keys as they are, V2 memcomparable-encodes them (api_v2.rs).
func (e *rawEngine) storedKey(user []byte) []byte {
	if e.api == kvrpcpb.APIVersion_V2 {
		return codec.EncodeBytes(nil, user)
	}
	return user
}

// userKey inverts storedKey.
func (e *rawEngine) userKey(stored []byte) []byte {
	if e.api != kvrpcpb.APIVersion_V2 {
		return bytes.Clone(stored)
	}
	_, user, err := codec.DecodeBytes(stored)
	if err != nil {
		// Only storedKey writes keys, so this cannot happen.
		panic("mocktikv: undecodable raw key in the engine: " + err.Error())
	}
	return user
}

// rawValue is a stored raw value decoded (api_version's RawValue).
type rawValue struct {
	user     []byte
	expireTS uint64 // Unix seconds; 0: no TTL
	deleted  bool   // API V2 logical delete
}

// visible is RawValue::is_valid: deleted values and values whose expiry time
// is <= now are invisible to every read.
func (v rawValue) visible(now uint64) bool {
	return !v.deleted && (v.expireTS == 0 || v.expireTS > now)
}

// The V2 value's trailing meta byte (api_v2.rs ValueMeta).
const (
	v2MetaExpireTS = 0x01
	v2MetaDeleted  = 0x02
)

// encodeValue is KvFormat::encode_raw_value: V1 stores the user value, V1TTL
// appends the expiry time as a big-endian u64 (0 = none), V2 appends the
// expiry time only when there is one, then a meta byte of flags.
func (e *rawEngine) encodeValue(v rawValue) []byte {
	switch e.api {
	case kvrpcpb.APIVersion_V1TTL:
		return binary.BigEndian.AppendUint64(bytes.Clone(v.user), v.expireTS)
	case kvrpcpb.APIVersion_V2:
		out := append([]byte{}, v.user...)
		var meta byte
		if v.expireTS != 0 {
			out = binary.BigEndian.AppendUint64(out, v.expireTS)
			meta |= v2MetaExpireTS
		}
		if v.deleted {
			meta |= v2MetaDeleted
		}
		return append(out, meta)
	}
	return cloneValue(v.user)
}

// decodeValue inverts encodeValue. The result aliases b.
func (e *rawEngine) decodeValue(b []byte) rawValue {
	switch e.api {
	case kvrpcpb.APIVersion_V1TTL:
		n := len(b) - 8
		return rawValue{user: b[:n], expireTS: binary.BigEndian.Uint64(b[n:])}
	case kvrpcpb.APIVersion_V2:
		n := len(b) - 1
		meta := b[n]
		v := rawValue{deleted: meta&v2MetaDeleted != 0}
		if meta&v2MetaExpireTS != 0 {
			n -= 8
			v.expireTS = binary.BigEndian.Uint64(b[n:])
		}
		v.user = b[:n]
		return v
	}
	return rawValue{user: b}
}

// kvEntry is one stored pair. The engine owns both slices.
type kvEntry struct {
	key, value []byte
}

// rawPut is one write: a stored key, a user value and its expiry time.
type rawPut struct {
	key, value []byte
	expireTS   uint64
}

func (e *rawEngine) encodePuts(puts []rawPut) []kvEntry {
	out := make([]kvEntry, len(puts))
	for i, p := range puts {
		out[i] = kvEntry{key: p.key, value: e.encodeValue(rawValue{user: p.value, expireTS: p.expireTS})}
	}
	return out
}

// getLocked returns key's visible user value. The caller holds e.mu.
func (e *rawEngine) getLocked(cf string, key []byte, now uint64) ([]byte, bool) {
	b, ok := e.cfs[cf].get(key)
	if !ok {
		return nil, false
	}
	v := e.decodeValue(b)
	if !v.visible(now) {
		return nil, false
	}
	return cloneValue(v.user), true
}

func (e *rawEngine) get(cf string, key []byte, now uint64) ([]byte, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.getLocked(cf, key, now)
}

// keyTTL is RawEncodeSnapshot::get_key_ttl_cf: a missing or expired key is
// not found, a key without TTL has ttl 0, otherwise the seconds left. The
// delete flag is not looked at, so a V2 key deleted logically reports ttl 0
// and found (a TiKV quirk we copy).
func (e *rawEngine) keyTTL(cf string, key []byte, now uint64) (ttl uint64, found bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	b, ok := e.cfs[cf].get(key)
	if !ok {
		return 0, false
	}
	v := e.decodeValue(b)
	switch {
	case v.expireTS == 0:
		return 0, true
	case v.expireTS <= now:
		return 0, false
	}
	return v.expireTS - now, true
}

func (e *rawEngine) putLocked(cf string, puts []rawPut) {
	e.cfs[cf].putBatch(e.encodePuts(puts))
}

func (e *rawEngine) put(cf string, puts []rawPut) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.putLocked(cf, puts)
}

// deleteLocked removes keys the way the API version's raw_delete does: V1
// and V1TTL delete physically, V2 writes a logical-delete value so that CDC
// sees the deletion (src/storage/mod.rs raw_delete_request_to_modify).
func (e *rawEngine) deleteLocked(cf string, keys [][]byte) {
	if e.api != kvrpcpb.APIVersion_V2 {
		e.cfs[cf].deleteBatch(keys)
		return
	}
	tomb := e.encodeValue(rawValue{deleted: true})
	entries := make([]kvEntry, len(keys))
	for i, k := range keys {
		entries[i] = kvEntry{key: k, value: tomb}
	}
	e.cfs[cf].putBatch(entries)
}

func (e *rawEngine) delete(cf string, keys [][]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleteLocked(cf, keys)
}

// deleteRange removes the stored keys in [start, end) physically, in every
// API version (raw_delete_range); an empty end means no upper bound.
func (e *rawEngine) deleteRange(cf string, start, end []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfs[cf].deleteRange(start, end)
}

// scan returns at most limit visible pairs with stored keys in [lower,
// upper) (an empty upper means no bound), ascending, or descending when
// reverse is set. Invisible entries (expired, deleted) are skipped and do
// not count toward limit, as RawEncodeIterator skips them. Keys are user
// keys; values are user values, or empty when keyOnly.
func (e *rawEngine) scan(cf string, lower, upper []byte, limit int, keyOnly, reverse bool, now uint64) []kvEntry {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []kvEntry
	e.cfs[cf].each(lower, upper, reverse, func(k, b []byte) bool {
		v := e.decodeValue(b)
		if !v.visible(now) {
			return true
		}
		kv := kvEntry{key: e.userKey(k)}
		if !keyOnly {
			kv.value = cloneValue(v.user)
		}
		out = append(out, kv)
		return len(out) < limit
	})
	return out
}

// crc64XZ is the table of crc64fast's CRC-64/XZ, which Go's crc64 computes
// with the ECMA polynomial.
var crc64XZ = crc64.MakeTable(crc64.ECMA)

// checksum is RawStoreInner::raw_checksum_ranges over one range of stored
// keys [lower, upper) (empty upper: no bound): for each visible pair,
// checksum ^= crc64(user key ++ user value), kvs += 1, bytes += len(user
// key) + len(user value). User keys are the decoded keys (in V2 with the
// 'r' + keyspace prefix, without timestamp); user values have the TTL and
// flag suffix stripped.
func (e *rawEngine) checksum(cf string, lower, upper []byte, now uint64) (crc, kvs, size uint64) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	e.cfs[cf].each(lower, upper, false, func(k, b []byte) bool {
		v := e.decodeValue(b)
		if !v.visible(now) {
			return true
		}
		user := e.userKey(k)
		d := crc64.Update(0, crc64XZ, user)
		d = crc64.Update(d, crc64XZ, v.user)
		crc ^= d
		kvs++
		size += uint64(len(user) + len(v.user))
		return true
	})
	return crc, kvs, size
}

// sortedKV is an ordered map from key to value.
type sortedKV struct {
	entries []kvEntry
}

// search returns the index of the first entry whose key is >= key.
func (s *sortedKV) search(key []byte) int {
	return sort.Search(len(s.entries), func(i int) bool {
		return bytes.Compare(s.entries[i].key, key) >= 0
	})
}

func (s *sortedKV) get(key []byte) ([]byte, bool) {
	i := s.search(key)
	if i < len(s.entries) && bytes.Equal(s.entries[i].key, key) {
		return s.entries[i].value, true
	}
	return nil, false
}

// putBatch stores every pair; for a key given more than once the last value
// wins, as when TiKV applies a write batch in order. Keys and values are
// copied.
func (s *sortedKV) putBatch(pairs []kvEntry) {
	if len(pairs) == 1 {
		s.putOne(pairs[0].key, pairs[0].value)
		return
	}
	batch := make([]kvEntry, len(pairs))
	for i, p := range pairs {
		batch[i] = kvEntry{key: bytes.Clone(p.key), value: cloneValue(p.value)}
	}
	// A stable sort keeps request order among equal keys; keeping the last
	// of each run makes the latest write win.
	slices.SortStableFunc(batch, func(a, b kvEntry) int { return bytes.Compare(a.key, b.key) })
	dedup := batch[:0]
	for i, e := range batch {
		if i+1 < len(batch) && bytes.Equal(e.key, batch[i+1].key) {
			continue
		}
		dedup = append(dedup, e)
	}
	merged := make([]kvEntry, 0, len(s.entries)+len(dedup))
	i, j := 0, 0
	for i < len(s.entries) && j < len(dedup) {
		switch c := bytes.Compare(s.entries[i].key, dedup[j].key); {
		case c < 0:
			merged = append(merged, s.entries[i])
			i++
		case c > 0:
			merged = append(merged, dedup[j])
			j++
		default:
			merged = append(merged, dedup[j])
			i++
			j++
		}
	}
	merged = append(merged, s.entries[i:]...)
	merged = append(merged, dedup[j:]...)
	s.entries = merged
}

func (s *sortedKV) putOne(key, value []byte) {
	i := s.search(key)
	if i < len(s.entries) && bytes.Equal(s.entries[i].key, key) {
		s.entries[i].value = cloneValue(value)
		return
	}
	s.entries = slices.Insert(s.entries, i, kvEntry{key: bytes.Clone(key), value: cloneValue(value)})
}

// deleteBatch removes every key; missing keys are not an error.
func (s *sortedKV) deleteBatch(keys [][]byte) {
	if len(keys) == 1 {
		i := s.search(keys[0])
		if i < len(s.entries) && bytes.Equal(s.entries[i].key, keys[0]) {
			s.entries = slices.Delete(s.entries, i, i+1)
		}
		return
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	kept := s.entries[:0]
	j := 0
	for _, e := range s.entries {
		for j < len(sorted) && bytes.Compare(sorted[j], e.key) < 0 {
			j++
		}
		if j < len(sorted) && bytes.Equal(sorted[j], e.key) {
			continue
		}
		kept = append(kept, e)
	}
	clear(s.entries[len(kept):])
	s.entries = kept
}

// deleteRange removes the keys in [start, end); an empty end means no upper
// bound.
func (s *sortedKV) deleteRange(start, end []byte) {
	lo, hi := s.bounds(start, end)
	if lo < hi {
		s.entries = slices.Delete(s.entries, lo, hi)
	}
}

// bounds returns the index range of the keys in [lower, upper) (an empty
// upper means no bound).
func (s *sortedKV) bounds(lower, upper []byte) (lo, hi int) {
	lo, hi = s.search(lower), len(s.entries)
	if len(upper) > 0 {
		hi = max(s.search(upper), lo)
	}
	return lo, hi
}

// each calls fn with the key and stored value of every entry in [lower,
// upper), ascending or, when reverse, descending, until fn returns false.
// fn must not keep or modify the slices.
func (s *sortedKV) each(lower, upper []byte, reverse bool, fn func(k, v []byte) bool) {
	lo, hi := s.bounds(lower, upper)
	if reverse {
		for i := hi - 1; i >= lo; i-- {
			if !fn(s.entries[i].key, s.entries[i].value) {
				return
			}
		}
		return
	}
	for i := lo; i < hi; i++ {
		if !fn(s.entries[i].key, s.entries[i].value) {
			return
		}
	}
}

// endAfter reports whether end key a lies beyond end key b, where an empty
// end key means +inf.
func endAfter(a, b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case len(a) == 0:
		return true
	}
	return bytes.Compare(a, b) > 0
}

// minEnd returns the smaller of two end keys (empty = +inf).
func minEnd(a, b []byte) []byte {
	if endAfter(a, b) {
		return b
	}
	return a
}

// maxKey returns the larger of two start keys.
func maxKey(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

// cloneValue copies v, keeping a non-nil result for an empty value: TiKV
// distinguishes an empty value from a missing key.
func cloneValue(v []byte) []byte {
	return append([]byte{}, v...)
}
