package mocktikv

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// The raw commands, following TiKV's src/server/service/kv.rs future_raw_*
// and src/storage/mod.rs raw_*, for the cluster's storage API version
// (raw_options.go). The order of checks matters because the first failure
// decides the answer, and it differs per command: each handler lists
// TiKV's. In general the API version, key sizes, TTL and (for writes) the
// column family are checked before the region; reads check the column family
// after it. Region-level failures set region_error and nothing else.
//
// Keys are turned into their stored form (rawEngine.storedKey) before they
// are compared with region boundaries, which are in that form too.

// rawAccess is the raftstore path a raw command takes, which decides the
// region checks it gets (checkRegionLocked).
type rawAccess int

const (
	// rawRead: a snapshot from the local reader.
	rawRead rawAccess = iota
	// rawWrite: a raft proposal (kv::write), checked at propose and apply.
	rawWrite
	// rawAtomic: a snapshot, like a read, then a proposal: scheduler
	// commands (CompareAndSwap and for_cas writes,
	// src/storage/txn/commands/{compare_and_swap,atomic_store}.rs) and V2
	// plain writes (plainWriteAccess).
	rawAtomic
)

// inRegion checks the request's region while holding the topology read
// lock and, if it passes, runs fn against the region under the same lock, so
// no split can slip between the check and the execution.
func (c *Cluster) inRegion(storeID uint64, access rawAccess, ctx *kvrpcpb.Context, fn func(r *metapb.Region) *errorpb.Error) *errorpb.Error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if access == rawAtomic {
		if _, rerr := c.checkRegionLocked(storeID, false, ctx); rerr != nil {
			return rerr
		}
	}
	r, rerr := c.checkRegionLocked(storeID, access != rawRead, ctx)
	if rerr != nil {
		return rerr
	}
	return fn(r.meta)
}

// plainWriteAccess is the path of a raw write that is not atomic: a
// proposal, except under V2, where TiKV first takes a snapshot to check that
// the leader's causal timestamps are synced (Storage::
// check_causal_ts_flushed) and so applies the read checks first.
func (c *Cluster) plainWriteAccess() rawAccess {
	if c.engine.api == kvrpcpb.APIVersion_V2 {
		return rawAtomic
	}
	return rawWrite
}

// outOfRegionRead is what a V1/V1TTL point read of a key outside the region
// returns: TiKV's region snapshot refuses the get and the failure is boxed
// as an "other" error, so it comes back as a string, not as KeyNotInRegion
// (region_snapshot.rs get_value_cf_opt; a TiKV quirk we copy).
func outOfRegionRead(key []byte, r *metapb.Region) string {
	return fmt.Sprintf("Other(\"key %X is not in region key range [%X, %X) for region %d\")", key, r.StartKey, r.EndKey, r.Id)
}

// pointReadCheck decides how a point read of stored key k in region r ends
// before the engine is consulted: with a region error, an error message, as
// "not found" (empty), or not at all (all zero). V1 and V1TTL read with a
// snapshot get (outOfRegionRead). V2 reads through RawMvccSnapshot, which
// seeks an iterator: the seek must land in [start, end] or fails with
// KeyNotInRegion (should_seekable), and a key equal to the region's end
// finds nothing (src/storage/raw/raw_mvcc.rs seek_first_key_value_cf).
func (c *Cluster) pointReadCheck(k []byte, r *metapb.Region) (rerr *errorpb.Error, msg string, empty bool) {
	if c.engine.api == kvrpcpb.APIVersion_V2 {
		if !keySeekable(k, r) {
			return keyNotInRegion(k, r), "", false
		}
		return nil, "", !keyInRegion(k, r)
	}
	if !keyInRegion(k, r) {
		return nil, outOfRegionRead(k, r), false
	}
	return nil, "", false
}

// pairError is a KvPair carrying a request- or key-level failure, as TiKV's
// extract_kv_pairs builds one: no key, the error as abort.
func pairError(msg string) *kvrpcpb.KvPair {
	return &kvrpcpb.KvPair{Error: &kvrpcpb.KeyError{Abort: msg}}
}

// rawGet is Storage::raw_get: api version, region, cf, then the read.
func (c *Cluster) rawGet(storeID uint64, req *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
	resp := &kvrpcpb.RawGetResponse{}
	if resp.Error = c.checkAPIVersion(req.Context, "raw_get", true, req.Key); resp.Error != "" {
		return resp
	}
	now := rawNow()
	var msg string
	resp.RegionError, msg, resp.NotFound = c.rawPointRead(storeID, req.Context, req.Cf, req.Key, "", func(cf string, key []byte) bool {
		var ok bool
		resp.Value, ok = c.engine.get(cf, key, now)
		return ok
	})
	resp.Error = msg
	return resp
}

// rawPointRead is the envelope of a raw point read (RawGet, RawGetKeyTTL):
// region check, column family (and extra, a further refusal checked with
// it), TiKV's out-of-region point-read behaviour (pointReadCheck), then read,
// which reports whether the key was found.
func (c *Cluster) rawPointRead(storeID uint64, rctx *kvrpcpb.Context, cfName string, rawKey []byte, extra string,
	read func(cf string, key []byte) bool) (rerr *errorpb.Error, errMsg string, notFound bool) {
	rerr = c.inRegion(storeID, rawRead, rctx, func(r *metapb.Region) *errorpb.Error {
		cf, msg := c.rawCF(cfName)
		if msg == "" {
			msg = extra
		}
		if msg != "" {
			errMsg = msg
			return nil
		}
		key := c.engine.storedKey(rawKey)
		rerr, msg, empty := c.pointReadCheck(key, r)
		switch {
		case rerr != nil:
			return rerr
		case msg != "":
			errMsg = msg
			return nil
		case empty:
			notFound = true
			return nil
		}
		notFound = !read(cf, key)
		return nil
	})
	return rerr, errMsg, notFound
}

// rawBatchGet is Storage::raw_batch_get: found keys in request order,
// missing keys omitted. A request-level failure (api version, cf) is one
// keyless pair carrying it; a key that cannot be read (out of the region)
// gets its own keyless error pair and the other keys are still read.
func (c *Cluster) rawBatchGet(storeID uint64, req *kvrpcpb.RawBatchGetRequest) *kvrpcpb.RawBatchGetResponse {
	resp := &kvrpcpb.RawBatchGetResponse{}
	if msg := c.checkAPIVersion(req.Context, "raw_batch_get", true, req.Keys...); msg != "" {
		resp.Pairs = []*kvrpcpb.KvPair{pairError(msg)}
		return resp
	}
	now := rawNow()
	resp.RegionError = c.inRegion(storeID, rawRead, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := c.rawCF(req.Cf)
		if msg != "" {
			resp.Pairs = []*kvrpcpb.KvPair{pairError(msg)}
			return nil
		}
		// One snapshot for the whole batch.
		c.engine.mu.RLock()
		defer c.engine.mu.RUnlock()
		for _, k := range req.Keys {
			key := c.engine.storedKey(k)
			rerr, msg, empty := c.pointReadCheck(key, r)
			switch {
			case rerr != nil:
				resp.Pairs = append(resp.Pairs, pairError(rerr.Message))
				continue
			case msg != "":
				resp.Pairs = append(resp.Pairs, pairError(msg))
				continue
			case empty:
				continue
			}
			if v, ok := c.engine.getLocked(cf, key, now); ok {
				resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: bytes.Clone(k), Value: v})
			}
		}
		return nil
	})
	return resp
}

// rawPut is Storage::raw_put (api version, key size, TTL support, cf) or,
// with for_cas, raw_batch_put_atomic (api version as raw_atomic_store, cf,
// TTL check; no key-size check: a TiKV quirk). The key must be in the region
// when the write applies (check_key_in_region -> KeyNotInRegion).
func (c *Cluster) rawPut(storeID uint64, req *kvrpcpb.RawPutRequest) *kvrpcpb.RawPutResponse {
	resp := &kvrpcpb.RawPutResponse{}
	cf, cfErr := c.rawCF(req.Cf)
	access := c.plainWriteAccess()
	if req.ForCas {
		access = rawAtomic
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_atomic_store", true, req.Key), cfErr, c.checkTTLs(1, []uint64{req.Ttl}))
	} else {
		ttlErr := ""
		if !c.ttlEnabled() && req.Ttl != 0 {
			ttlErr = errTTLNotEnabled
		}
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_put", true, req.Key), checkKeySize(req.Key), ttlErr, cfErr)
	}
	if resp.Error != "" {
		return resp
	}
	now := rawNow()
	key := c.engine.storedKey(req.Key)
	resp.RegionError = c.inRegion(storeID, access, req.Context, func(r *metapb.Region) *errorpb.Error {
		if !keyInRegion(key, r) {
			return keyNotInRegion(key, r)
		}
		c.engine.put(cf, []rawPut{{key: key, value: req.Value, expireTS: expireTS(req.Ttl, now)}})
		return nil
	})
	return resp
}

// rawBatchPut is Storage::raw_batch_put (api version, cf, key size, TTLs)
// or, with for_cas, raw_batch_put_atomic (the same without the key-size
// check). Pairs are zipped with the TTLs, so without TTL support a list of
// zero TTLs shorter than the pairs (but longer than one) silently drops the
// pairs beyond it (a TiKV quirk we copy). Every written key must be in the
// region.
func (c *Cluster) rawBatchPut(storeID uint64, req *kvrpcpb.RawBatchPutRequest) *kvrpcpb.RawBatchPutResponse {
	resp := &kvrpcpb.RawBatchPutResponse{}
	keys := make([][]byte, len(req.Pairs))
	for i, p := range req.Pairs {
		keys[i] = p.Key
	}
	ttls := widenTTLs(req.Ttls, len(req.Pairs))
	cf, cfErr := c.rawCF(req.Cf)
	access := c.plainWriteAccess()
	if req.ForCas {
		access = rawAtomic
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_atomic_store", true, keys...), cfErr, c.checkTTLs(len(keys), ttls))
	} else {
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_batch_put", true, keys...), cfErr, checkKeySize(keys...), c.checkTTLs(len(keys), ttls))
	}
	if resp.Error != "" {
		return resp
	}
	now := rawNow()
	puts := make([]rawPut, min(len(req.Pairs), len(ttls)))
	stored := make([][]byte, len(puts))
	for i := range puts {
		stored[i] = c.engine.storedKey(req.Pairs[i].Key)
		puts[i] = rawPut{key: stored[i], value: req.Pairs[i].Value, expireTS: expireTS(ttls[i], now)}
	}
	resp.RegionError = c.inRegion(storeID, access, req.Context, func(r *metapb.Region) *errorpb.Error {
		if e := checkKeysInRegion(stored, r); e != nil {
			return e
		}
		c.engine.put(cf, puts)
		return nil
	})
	return resp
}

// rawDelete is Storage::raw_delete (api version, key size, cf) or, with
// for_cas, raw_batch_delete_atomic (api version as raw_atomic_store, cf).
// V1 and V1TTL delete physically, V2 logically. A missing key is not an
// error.
func (c *Cluster) rawDelete(storeID uint64, req *kvrpcpb.RawDeleteRequest) *kvrpcpb.RawDeleteResponse {
	resp := &kvrpcpb.RawDeleteResponse{}
	cf, cfErr := c.rawCF(req.Cf)
	access := c.plainWriteAccess()
	if req.ForCas {
		access = rawAtomic
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_atomic_store", true, req.Key), cfErr)
	} else {
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_delete", true, req.Key), checkKeySize(req.Key), cfErr)
	}
	if resp.Error != "" {
		return resp
	}
	key := c.engine.storedKey(req.Key)
	resp.RegionError = c.inRegion(storeID, access, req.Context, func(r *metapb.Region) *errorpb.Error {
		if !keyInRegion(key, r) {
			return keyNotInRegion(key, r)
		}
		c.engine.delete(cf, [][]byte{key})
		return nil
	})
	return resp
}

// rawBatchDelete is Storage::raw_batch_delete (api version, cf, key size)
// or, with for_cas, raw_batch_delete_atomic (api version as
// raw_atomic_store, cf).
func (c *Cluster) rawBatchDelete(storeID uint64, req *kvrpcpb.RawBatchDeleteRequest) *kvrpcpb.RawBatchDeleteResponse {
	resp := &kvrpcpb.RawBatchDeleteResponse{}
	cf, cfErr := c.rawCF(req.Cf)
	access := c.plainWriteAccess()
	if req.ForCas {
		access = rawAtomic
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_atomic_store", true, req.Keys...), cfErr)
	} else {
		resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_batch_delete", true, req.Keys...), cfErr, checkKeySize(req.Keys...))
	}
	if resp.Error != "" {
		return resp
	}
	stored := make([][]byte, len(req.Keys))
	for i, k := range req.Keys {
		stored[i] = c.engine.storedKey(k)
	}
	resp.RegionError = c.inRegion(storeID, access, req.Context, func(r *metapb.Region) *errorpb.Error {
		if e := checkKeysInRegion(stored, r); e != nil {
			return e
		}
		c.engine.delete(cf, stored)
		return nil
	})
	return resp
}

// rawDeleteRange is Storage::raw_delete_range: key sizes, api version of
// the range, cf; then a physical delete of [start, end) in every API
// version.
func (c *Cluster) rawDeleteRange(storeID uint64, req *kvrpcpb.RawDeleteRangeRequest) *kvrpcpb.RawDeleteRangeResponse {
	resp := &kvrpcpb.RawDeleteRangeResponse{}
	cf, cfErr := c.rawCF(req.Cf)
	rng := apiRange{start: req.StartKey, end: req.EndKey}
	if resp.Error = firstErr(checkKeySize(req.StartKey, req.EndKey), c.checkAPIVersionRanges(req.Context, "raw_delete_range", true, rng), cfErr); resp.Error != "" {
		return resp
	}
	start, end := c.engine.storedKey(req.StartKey), []byte(nil)
	if len(req.EndKey) > 0 {
		end = c.engine.storedKey(req.EndKey)
	}
	resp.RegionError = c.inRegion(storeID, rawWrite, req.Context, func(r *metapb.Region) *errorpb.Error {
		// apply.rs handle_delete_range: reject an inverted range, then the
		// start must be in [start, end) and the end must not pass the
		// region's end (an empty end is +inf, so it fails in a bounded
		// region). Apply errors travel back in the raft response's header,
		// so the inverted range is a region error with only a message.
		if len(end) > 0 && bytes.Compare(start, end) >= 0 {
			return &errorpb.Error{Message: fmt.Sprintf("invalid delete range command, start_key: %s, end_key: %s",
				rustBytes(start), rustBytes(end))}
		}
		if !keyInRegion(start, r) {
			return keyNotInRegion(start, r)
		}
		if endAfter(end, r.EndKey) {
			return keyNotInRegion(end, r)
		}
		c.engine.deleteRange(cf, start, end)
		return nil
	})
	return resp
}

// scanRegion is RawStore's forward_raw_scan / reverse_raw_scan on a region
// snapshot, for user keys start and end. Forward returns [start, end)
// ascending (an empty end means no bound); reverse returns [end, start)
// descending, start being the exclusive upper bound. Either way the region
// bounds the scan: it stops at the region's end (forward) or start
// (reverse), and the client resumes in the next region. A zero limit returns
// nothing before seeking; otherwise the seek must land in the region
// (RegionSnapshot::should_seekable, end inclusive) or the scan fails with
// KeyNotInRegion. Expired and deleted entries are skipped.
func (c *Cluster) scanRegion(cf string, r *metapb.Region, start, end []byte, limit uint32, keyOnly, reverse bool, now uint64) ([]*kvrpcpb.KvPair, *errorpb.Error) {
	if limit == 0 {
		return nil, nil
	}
	s := c.engine.storedKey(start)
	if !keySeekable(s, r) {
		return nil, keyNotInRegion(s, r)
	}
	var e []byte
	if len(end) > 0 {
		e = c.engine.storedKey(end)
	}
	var lower, upper []byte
	if reverse {
		if len(s) == 0 {
			// Nothing sorts below the empty key.
			return nil, nil
		}
		lower, upper = maxKey(e, r.StartKey), minEnd(s, r.EndKey)
	} else {
		lower, upper = maxKey(s, r.StartKey), minEnd(e, r.EndKey)
	}
	if len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
		return nil, nil
	}
	var out []*kvrpcpb.KvPair
	for _, kv := range c.engine.scan(cf, lower, upper, int(limit), keyOnly, reverse, now) {
		out = append(out, &kvrpcpb.KvPair{Key: kv.key, Value: kv.value})
	}
	return out, nil
}

// rawScan is Storage::raw_scan: api version of the range (an empty end key
// is an absent one, which V2 refuses), region, cf, then scanRegion.
// Failures other than region errors come back as one keyless error pair.
func (c *Cluster) rawScan(storeID uint64, req *kvrpcpb.RawScanRequest) *kvrpcpb.RawScanResponse {
	resp := &kvrpcpb.RawScanResponse{}
	rng := apiRange{start: req.StartKey, end: req.EndKey, openEnd: len(req.EndKey) == 0}
	if msg := c.checkAPIVersionRanges(req.Context, "raw_scan", true, rng); msg != "" {
		resp.Kvs = []*kvrpcpb.KvPair{pairError(msg)}
		return resp
	}
	now := rawNow()
	resp.RegionError = c.inRegion(storeID, rawRead, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := c.rawCF(req.Cf)
		if msg != "" {
			resp.Kvs = []*kvrpcpb.KvPair{pairError(msg)}
			return nil
		}
		kvs, rerr := c.scanRegion(cf, r, req.StartKey, req.EndKey, req.Limit, req.KeyOnly, req.Reverse, now)
		resp.Kvs = kvs
		return rerr
	})
	return resp
}

// rawBatchScan is Storage::raw_batch_scan: api version of every range (both
// ends present, so V2 refuses empty ends), region, cf, range validity
// (checkKeyRanges, else a keyless "Invalid KeyRanges" error pair), then each
// range scanned as RawScan would with each_limit, results concatenated in
// range order. An empty end of a range but the last is the next range's
// start. A range whose start is outside the region fails the whole request
// with KeyNotInRegion.
func (c *Cluster) rawBatchScan(storeID uint64, req *kvrpcpb.RawBatchScanRequest) *kvrpcpb.RawBatchScanResponse {
	resp := &kvrpcpb.RawBatchScanResponse{}
	rngs := make([]apiRange, len(req.Ranges))
	for i, r := range req.Ranges {
		rngs[i] = apiRange{start: r.StartKey, end: r.EndKey}
	}
	if msg := c.checkAPIVersionRanges(req.Context, "raw_batch_scan", true, rngs...); msg != "" {
		resp.Kvs = []*kvrpcpb.KvPair{pairError(msg)}
		return resp
	}
	now := rawNow()
	resp.RegionError = c.inRegion(storeID, rawRead, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := c.rawCF(req.Cf)
		if msg != "" {
			resp.Kvs = []*kvrpcpb.KvPair{pairError(msg)}
			return nil
		}
		if !checkKeyRanges(req.Ranges, req.Reverse) {
			resp.Kvs = []*kvrpcpb.KvPair{pairError("Invalid KeyRanges")}
			return nil
		}
		var all []*kvrpcpb.KvPair
		for i, kr := range req.Ranges {
			end := kr.EndKey
			if len(end) == 0 && i+1 < len(req.Ranges) {
				end = req.Ranges[i+1].StartKey
			}
			kvs, rerr := c.scanRegion(cf, r, kr.StartKey, end, req.EachLimit, req.KeyOnly, req.Reverse, now)
			if rerr != nil {
				return rerr
			}
			all = append(all, kvs...)
		}
		resp.Kvs = all
		return nil
	})
	return resp
}

// rawGetKeyTTL is Storage::raw_get_key_ttl: api version, region, cf, then
// the key's TTL (rawEngine.keyTTL). A V1 store has no TTLs: TiKV panics
// there ("get ttl on non-ttl store", RawStore::raw_get_key_ttl); the mock
// answers that text as the error instead of dropping the connection.
func (c *Cluster) rawGetKeyTTL(storeID uint64, req *kvrpcpb.RawGetKeyTTLRequest) *kvrpcpb.RawGetKeyTTLResponse {
	resp := &kvrpcpb.RawGetKeyTTLResponse{}
	if resp.Error = c.checkAPIVersion(req.Context, "raw_get_key_ttl", true, req.Key); resp.Error != "" {
		return resp
	}
	now := rawNow()
	extra := ""
	if !c.ttlEnabled() {
		extra = "get ttl on non-ttl store"
	}
	var msg string
	resp.RegionError, msg, resp.NotFound = c.rawPointRead(storeID, req.Context, req.Cf, req.Key, extra, func(cf string, key []byte) bool {
		var ok bool
		resp.Ttl, ok = c.engine.keyTTL(cf, key, now)
		return ok
	})
	resp.Error = msg
	return resp
}

// rawCompareAndSwap is Storage::raw_compare_and_swap_atomic and the
// RawCompareAndSwap command (src/storage/txn/commands/compare_and_swap.rs):
// api version, cf, TTL support (no key-size check); then, latched, the
// current visible value is compared with the expectation: absent when
// previous_not_exist, else previous_value (an empty value is a value). On a
// match succeed is set and the value written with its ttl, or, with delete,
// the key deleted (written only when a value was expected, so deleting an
// absent key succeeds without a write). The observed value always comes
// back: previous_value, or previous_not_exist.
//
// TiKV does not check that a client uses CAS "consistently": only CAS and
// the for_cas writes take the scheduler's latches, so mixing them with plain
// writes loses atomicity (client-go refuses CAS outside atomic mode for that
// reason). The mock serializes every raw write, so it never loses it.
func (c *Cluster) rawCompareAndSwap(storeID uint64, req *kvrpcpb.RawCASRequest) *kvrpcpb.RawCASResponse {
	resp := &kvrpcpb.RawCASResponse{}
	cf, cfErr := c.rawCF(req.Cf)
	ttlErr := ""
	if !c.ttlEnabled() && req.Ttl != 0 {
		ttlErr = errTTLNotEnabled
	}
	if resp.Error = firstErr(c.checkAPIVersion(req.Context, "raw_compare_and_swap", true, req.Key), cfErr, ttlErr); resp.Error != "" {
		return resp
	}
	now := rawNow()
	key := c.engine.storedKey(req.Key)
	resp.RegionError = c.inRegion(storeID, rawAtomic, req.Context, func(r *metapb.Region) *errorpb.Error {
		rerr, msg, empty := c.pointReadCheck(key, r)
		switch {
		case rerr != nil:
			return rerr
		case msg != "":
			resp.Error = msg
			return nil
		}
		c.engine.mu.Lock()
		defer c.engine.mu.Unlock()
		var old []byte
		found := false
		if !empty {
			old, found = c.engine.getLocked(cf, key, now)
		}
		match := found != req.PreviousNotExist && (!found || bytes.Equal(old, req.PreviousValue))
		switch {
		case !match:
		case req.Delete:
			if !req.PreviousNotExist {
				c.engine.deleteLocked(cf, [][]byte{key})
			}
		case !keyInRegion(key, r):
			// Only a V2 key equal to the region's end reads as absent
			// yet fails the write's apply check.
			return keyNotInRegion(key, r)
		default:
			c.engine.putLocked(cf, []rawPut{{key: key, value: req.Value, expireTS: expireTS(req.Ttl, now)}})
		}
		resp.Succeed = match
		resp.PreviousValue, resp.PreviousNotExist = old, !found
		return nil
	})
	return resp
}

// rawChecksum is Storage::raw_checksum: the algorithm (only Crc64_Xor),
// api version of every range, region, then RawStoreInner::
// raw_checksum_ranges over the default column family: for each range, a seek
// to its start (outside [start, end] of the region: KeyNotInRegion) and an
// iteration up to its end, clipped to the region (an empty end means the
// region's end); see rawEngine.checksum for what is summed.
func (c *Cluster) rawChecksum(storeID uint64, req *kvrpcpb.RawChecksumRequest) *kvrpcpb.RawChecksumResponse {
	resp := &kvrpcpb.RawChecksumResponse{}
	if req.Algorithm != kvrpcpb.ChecksumAlgorithm_Crc64_Xor {
		resp.Error = fmt.Sprintf("unknown checksum algorithm %d", req.Algorithm)
		return resp
	}
	rngs := make([]apiRange, len(req.Ranges))
	for i, r := range req.Ranges {
		rngs[i] = apiRange{start: r.StartKey, end: r.EndKey}
	}
	if resp.Error = c.checkAPIVersionRanges(req.Context, "raw_checksum", true, rngs...); resp.Error != "" {
		return resp
	}
	now := rawNow()
	resp.RegionError = c.inRegion(storeID, rawRead, req.Context, func(r *metapb.Region) *errorpb.Error {
		var crc, kvs, size uint64
		for _, kr := range req.Ranges {
			start := c.engine.storedKey(kr.StartKey)
			if !keySeekable(start, r) {
				return keyNotInRegion(start, r)
			}
			var end []byte
			if len(kr.EndKey) > 0 {
				end = c.engine.storedKey(kr.EndKey)
			}
			lower, upper := maxKey(start, r.StartKey), minEnd(end, r.EndKey)
			if len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
				continue
			}
			cs, n, b := c.engine.checksum(cfDefault, lower, upper, now)
			crc ^= cs
			kvs += n
			size += b
		}
		resp.Checksum, resp.TotalKvs, resp.TotalBytes = crc, kvs, size
		return nil
	})
	return resp
}

// rustBytes renders b as Rust's Debug of a byte slice: "[107, 49]".
func rustBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
