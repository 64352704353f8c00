package mocktikv

import (
	"bytes"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// The raw commands, following TiKV's src/server/service/kv.rs future_raw_*
// and src/storage/mod.rs raw_* (storage API V1, TTL disabled). The order of
// checks matters because the first failure decides the answer: TiKV checks
// the API version, key sizes, TTL and (for writes) the column family before
// it touches the region; reads check the column family after the region.
// Region-level failures set region_error and nothing else.

// maxKeySize is TiKV's storage.max-key-size default.
const maxKeySize = 8192

// rawCF maps a request's cf to a column family (Storage::rawkv_cf).
func rawCF(cf string) (string, string) {
	switch cf {
	case "":
		return cfDefault, ""
	case cfDefault, cfLock, cfWrite:
		return cf, ""
	}
	return "", "invalid cf name: " + cf
}

// checkAPIVersion is Storage::check_api_version for a V1 store: only V1
// requests are served.
func checkAPIVersion(ctx *kvrpcpb.Context, cmd string) string {
	if v := ctx.GetApiVersion(); v != kvrpcpb.APIVersion_V1 {
		return fmt.Sprintf("Api version in request does not match with TiKV storage, cmd: %s, storage: V1, request: %s", cmd, v)
	}
	return ""
}

// checkKeySize is check_key_size! for raw writes.
func checkKeySize(keys ...[]byte) string {
	for _, k := range keys {
		if len(k) > maxKeySize {
			return fmt.Sprintf("max key size exceeded, size: %d, limit: %d", len(k), maxKeySize)
		}
	}
	return ""
}

const errTTLNotEnabled = "ttl is not enabled, but get put request with ttl"

// firstErr returns the first non-empty message.
func firstErr(msgs ...string) string {
	for _, m := range msgs {
		if m != "" {
			return m
		}
	}
	return ""
}

// inRegion checks the request's region while holding the topology read
// lock and, if it passes, runs fn against the region under the same lock, so
// no split can slip between the check and the execution.
func (c *Cluster) inRegion(storeID uint64, write bool, ctx *kvrpcpb.Context, fn func(r *metapb.Region) *errorpb.Error) *errorpb.Error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, rerr := c.checkRegionLocked(storeID, write, ctx)
	if rerr != nil {
		return rerr
	}
	return fn(r.meta)
}

// outOfRegionRead is what a point read of a key outside the region returns:
// TiKV's region snapshot refuses the get and the failure is boxed as an
// "other" error, so it comes back as a string, not as KeyNotInRegion
// (region_snapshot.rs get_value_cf_opt; a TiKV quirk we copy).
func outOfRegionRead(key []byte, r *metapb.Region) string {
	return fmt.Sprintf("Other(\"key %X is not in region key range [%X, %X) for region %d\")", key, r.StartKey, r.EndKey, r.Id)
}

func (c *Cluster) rawGet(storeID uint64, req *kvrpcpb.RawGetRequest) *kvrpcpb.RawGetResponse {
	resp := &kvrpcpb.RawGetResponse{}
	if resp.Error = checkAPIVersion(req.Context, "raw_get"); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, false, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := rawCF(req.Cf)
		if msg == "" && !keyInRegion(req.Key, r) {
			msg = outOfRegionRead(req.Key, r)
		}
		if msg != "" {
			resp.Error = msg
			return nil
		}
		v, ok := c.engine.get(cf, req.Key)
		resp.Value, resp.NotFound = v, !ok
		return nil
	})
	return resp
}

func (c *Cluster) rawBatchGet(storeID uint64, req *kvrpcpb.RawBatchGetRequest) *kvrpcpb.RawBatchGetResponse {
	resp := &kvrpcpb.RawBatchGetResponse{}
	// A request-level failure is reported as a single pair carrying it.
	fail := func(msg string) {
		resp.Pairs = []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: msg}}}
	}
	if msg := checkAPIVersion(req.Context, "raw_batch_get"); msg != "" {
		fail(msg)
		return resp
	}
	resp.RegionError = c.inRegion(storeID, false, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := rawCF(req.Cf)
		if msg != "" {
			fail(msg)
			return nil
		}
		for _, k := range req.Keys {
			if !keyInRegion(k, r) {
				fail(outOfRegionRead(k, r))
				return nil
			}
		}
		// Found keys in request order; missing keys are omitted.
		for _, k := range req.Keys {
			if v, ok := c.engine.get(cf, k); ok {
				resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: bytes.Clone(k), Value: v})
			}
		}
		return nil
	})
	return resp
}

func (c *Cluster) rawPut(storeID uint64, req *kvrpcpb.RawPutRequest) *kvrpcpb.RawPutResponse {
	resp := &kvrpcpb.RawPutResponse{}
	cf, cfErr := rawCF(req.Cf)
	ttlErr := ""
	if req.Ttl != 0 {
		ttlErr = errTTLNotEnabled
	}
	if resp.Error = firstErr(checkAPIVersion(req.Context, "raw_put"), checkKeySize(req.Key), ttlErr, cfErr); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, true, req.Context, func(r *metapb.Region) *errorpb.Error {
		if !keyInRegion(req.Key, r) {
			return keyNotInRegion(req.Key, r)
		}
		c.engine.put(cf, []kvEntry{{key: req.Key, value: req.Value}})
		return nil
	})
	return resp
}

func (c *Cluster) rawBatchPut(storeID uint64, req *kvrpcpb.RawBatchPutRequest) *kvrpcpb.RawBatchPutResponse {
	resp := &kvrpcpb.RawBatchPutResponse{}
	cf, cfErr := rawCF(req.Cf)
	keys := make([][]byte, len(req.Pairs))
	for i, p := range req.Pairs {
		keys[i] = p.Key
	}
	// Only ttls counts; the deprecated single ttl field is ignored.
	ttlErr := ""
	for _, t := range req.Ttls {
		if t != 0 {
			ttlErr = errTTLNotEnabled
		}
	}
	if resp.Error = firstErr(checkAPIVersion(req.Context, "raw_batch_put"), checkKeySize(keys...), ttlErr, cfErr); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, true, req.Context, func(r *metapb.Region) *errorpb.Error {
		if e := checkKeysInRegion(keys, r); e != nil {
			return e
		}
		entries := make([]kvEntry, len(req.Pairs))
		for i, p := range req.Pairs {
			entries[i] = kvEntry{key: p.Key, value: p.Value}
		}
		c.engine.put(cf, entries)
		return nil
	})
	return resp
}

func (c *Cluster) rawDelete(storeID uint64, req *kvrpcpb.RawDeleteRequest) *kvrpcpb.RawDeleteResponse {
	resp := &kvrpcpb.RawDeleteResponse{}
	cf, cfErr := rawCF(req.Cf)
	if resp.Error = firstErr(checkAPIVersion(req.Context, "raw_delete"), checkKeySize(req.Key), cfErr); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, true, req.Context, func(r *metapb.Region) *errorpb.Error {
		if !keyInRegion(req.Key, r) {
			return keyNotInRegion(req.Key, r)
		}
		c.engine.delete(cf, [][]byte{req.Key})
		return nil
	})
	return resp
}

func (c *Cluster) rawBatchDelete(storeID uint64, req *kvrpcpb.RawBatchDeleteRequest) *kvrpcpb.RawBatchDeleteResponse {
	resp := &kvrpcpb.RawBatchDeleteResponse{}
	cf, cfErr := rawCF(req.Cf)
	if resp.Error = firstErr(checkAPIVersion(req.Context, "raw_batch_delete"), checkKeySize(req.Keys...), cfErr); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, true, req.Context, func(r *metapb.Region) *errorpb.Error {
		if e := checkKeysInRegion(req.Keys, r); e != nil {
			return e
		}
		c.engine.delete(cf, req.Keys)
		return nil
	})
	return resp
}

func (c *Cluster) rawDeleteRange(storeID uint64, req *kvrpcpb.RawDeleteRangeRequest) *kvrpcpb.RawDeleteRangeResponse {
	resp := &kvrpcpb.RawDeleteRangeResponse{}
	cf, cfErr := rawCF(req.Cf)
	if resp.Error = firstErr(checkKeySize(req.StartKey, req.EndKey), checkAPIVersion(req.Context, "raw_delete_range"), cfErr); resp.Error != "" {
		return resp
	}
	resp.RegionError = c.inRegion(storeID, true, req.Context, func(r *metapb.Region) *errorpb.Error {
		// apply.rs handle_delete_range: reject an inverted range, then the
		// start must be in [start, end) and the end must not pass the
		// region's end (an empty end is +inf, so it fails in a bounded
		// region).
		if len(req.EndKey) > 0 && bytes.Compare(req.StartKey, req.EndKey) >= 0 {
			resp.Error = fmt.Sprintf("invalid delete range command, start_key: %v, end_key: %v", req.StartKey, req.EndKey)
			return nil
		}
		if !keyInRegion(req.StartKey, r) {
			return keyNotInRegion(req.StartKey, r)
		}
		if endAfter(req.EndKey, r.EndKey) {
			return keyNotInRegion(req.EndKey, r)
		}
		c.engine.deleteRange(cf, req.StartKey, req.EndKey)
		return nil
	})
	return resp
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

func maxKey(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

// rawScan follows Storage::raw_scan and RawStore's forward/reverse scans on a
// region snapshot. Forward returns [start_key, end_key) ascending (an empty
// end_key means no bound); reverse returns [end_key, start_key) descending,
// start_key being the exclusive upper bound. Either way the region bounds the
// scan: it stops at the region's end (forward) or start (reverse), and the
// client resumes in the next region. The first seek must land in the region
// (RegionSnapshot::should_seekable, end inclusive) or the scan fails with
// KeyNotInRegion.
func (c *Cluster) rawScan(storeID uint64, req *kvrpcpb.RawScanRequest) *kvrpcpb.RawScanResponse {
	resp := &kvrpcpb.RawScanResponse{}
	fail := func(msg string) {
		resp.Kvs = []*kvrpcpb.KvPair{{Error: &kvrpcpb.KeyError{Abort: msg}}}
	}
	if msg := checkAPIVersion(req.Context, "raw_scan"); msg != "" {
		fail(msg)
		return resp
	}
	resp.RegionError = c.inRegion(storeID, false, req.Context, func(r *metapb.Region) *errorpb.Error {
		cf, msg := rawCF(req.Cf)
		if msg != "" {
			fail(msg)
			return nil
		}
		if req.Limit == 0 {
			return nil
		}
		if !keySeekable(req.StartKey, r) {
			return keyNotInRegion(req.StartKey, r)
		}
		var lower, upper []byte
		if req.Reverse {
			if len(req.StartKey) == 0 {
				// Nothing sorts below the empty key.
				return nil
			}
			lower = maxKey(req.EndKey, r.StartKey)
			upper = minEnd(req.StartKey, r.EndKey)
		} else {
			lower = maxKey(req.StartKey, r.StartKey)
			upper = minEnd(req.EndKey, r.EndKey)
		}
		if len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
			return nil
		}
		for _, e := range c.engine.scan(cf, lower, upper, int(req.Limit), req.KeyOnly, req.Reverse) {
			resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: e.key, Value: e.value})
		}
		return nil
	})
	return resp
}
