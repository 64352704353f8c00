package mocktikv

import (
	"bytes"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// rawConfig is the part of a cluster's configuration that shapes its
// storage: TiKV's storage.api-version.
type rawConfig struct {
	apiVersion kvrpcpb.APIVersion
}

// WithAPIVersion sets the storage API version every store of the cluster
// runs, TiKV's storage.api-version (default V1). As in TiKV, one cluster
// serves one version, and it decides how raw data is kept and which requests
// are accepted (Storage::check_api_version, src/storage/mod.rs):
//
//   - V1: raw keys and values are stored as they are; a non-zero TTL is
//     refused (TtlNotEnabled) and RawGetKeyTTL is not served. Raw and
//     transactional requests must say api_version V1.
//   - V1TTL: raw values carry an expiry time; raw requests must say V1 (a
//     V1TTL request is refused), transactional requests are refused.
//   - V2: raw keys must carry the raw keyspace prefix 'r' + 3-byte keyspace
//     id and are stored memcomparable-encoded (region boundaries are in that
//     form), values carry TTL and a logical-delete flag; requests must say
//     V2 (V1 is accepted only for TiDB's transactional 'm'/'t' keys).
//
// A request with another version is answered with TiKV's
// ApiVersionNotMatched error. WithAPIVersion panics for any other v (V3):
// TiKV refuses to start with it.
func WithAPIVersion(v kvrpcpb.APIVersion) Option {
	switch v {
	case kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2:
	default:
		panic(fmt.Sprintf("mocktikv: storage api version %s is not supported", v))
	}
	return func(c *config) { c.raw.apiVersion = v }
}

// APIVersion returns the storage API version the cluster's stores run
// (WithAPIVersion).
func (c *Cluster) APIVersion() kvrpcpb.APIVersion { return c.engine.api }

// apiVersionName renders v as TiKV's error messages do (Rust Debug of
// kvproto's ApiVersion: V1, V1ttl, V2).
func apiVersionName(v kvrpcpb.APIVersion) string {
	if v == kvrpcpb.APIVersion_V1TTL {
		return "V1ttl"
	}
	return v.String()
}

// keyMode is api_version's KeyMode: what the first byte of a key says it is
// under API V2 (components/api_version/src/api_v2.rs parse_key_mode).
type keyMode int

const (
	keyModeUnknown keyMode = iota
	keyModeRaw             // 'r': RawKV
	keyModeTxn             // 'x': TxnKV
	keyModeTiDB            // 'm', 't': TiDB's meta and table keys
)

func parseKeyMode(key []byte) keyMode {
	if len(key) == 0 {
		return keyModeUnknown
	}
	switch key[0] {
	case 'r':
		return keyModeRaw
	case 'x':
		return keyModeTxn
	case 'm', 't':
		return keyModeTiDB
	}
	return keyModeUnknown
}

// parseRangeMode is ApiV2::parse_range_mode: a range has a mode only when
// both ends are present and non-empty and they share the first byte, or the
// end is the single byte after the start's first byte ("r".."s" covers all
// raw keys).
func parseRangeMode(r apiRange) keyMode {
	if r.openEnd || len(r.start) == 0 || len(r.end) == 0 {
		return keyModeUnknown
	}
	if r.start[0] == r.end[0] || (len(r.end) == 1 && r.end[0] == r.start[0]+1) {
		return parseKeyMode(r.start)
	}
	return keyModeUnknown
}

// apiRange is a key range as check_api_version_ranges sees it: the start is
// always given, the end may be absent (openEnd: RawScan without an end key).
type apiRange struct {
	start, end []byte
	openEnd    bool
}

// requiredKeyMode returns the key mode Storage::check_api_version demands of
// a command's keys (raw: a raw command) for a request of version req, and
// whether the version pair is accepted at all. keyModeUnknown with ok means
// any key is accepted.
func (c *Cluster) requiredKeyMode(req kvrpcpb.APIVersion, raw bool) (mode keyMode, ok bool) {
	storage := c.engine.api
	switch {
	case storage == kvrpcpb.APIVersion_V1 && req == kvrpcpb.APIVersion_V1:
		return keyModeUnknown, true
	case storage == kvrpcpb.APIVersion_V1TTL && req == kvrpcpb.APIVersion_V1 && raw:
		// A V1TTL store serves RawKV only, to clients speaking V1.
		return keyModeUnknown, true
	case storage == kvrpcpb.APIVersion_V2 && req == kvrpcpb.APIVersion_V1 && !raw:
		// For compatibility a V2 store serves V1 transactions of TiDB only.
		return keyModeTiDB, true
	case storage == kvrpcpb.APIVersion_V2 && req == kvrpcpb.APIVersion_V2 && raw:
		return keyModeRaw, true
	case storage == kvrpcpb.APIVersion_V2 && req == kvrpcpb.APIVersion_V2:
		return keyModeTxn, true
	}
	return keyModeUnknown, false
}

func (c *Cluster) apiVersionNotMatched(cmd string, req kvrpcpb.APIVersion) string {
	return fmt.Sprintf("Api version in request does not match with TiKV storage, cmd: %s, storage: %s, request: %s",
		cmd, apiVersionName(c.engine.api), apiVersionName(req))
}

// checkAPIVersion is Storage::check_api_version (src/storage/mod.rs) for a
// command named cmd (TiKV's CommandKind, e.g. "raw_get"); raw says whether it
// is a RawKV command. It returns the Display text of TiKV's error, or "".
// Under V2 every key must be of the mode the request's version demands
// (InvalidKeyMode, the key in upper-case hex).
func (c *Cluster) checkAPIVersion(ctx *kvrpcpb.Context, cmd string, raw bool, keys ...[]byte) string {
	req := ctx.GetApiVersion()
	mode, ok := c.requiredKeyMode(req, raw)
	if !ok {
		return c.apiVersionNotMatched(cmd, req)
	}
	if mode == keyModeUnknown {
		return ""
	}
	for _, k := range keys {
		if m := parseKeyMode(k); m != mode {
			return fmt.Sprintf("Key mode mismatched with the request mode, cmd: %s, storage: %s, key: %X",
				cmd, apiVersionName(c.engine.api), k)
		}
	}
	return ""
}

// checkAPIVersionRanges is Storage::check_api_version_ranges: as
// checkAPIVersion, but under V2 each range must have a mode
// (parseRangeMode), so an empty or absent end key is refused
// (InvalidKeyRangeMode, with the range rendered as Rust Debug of
// (Option<hex>, Option<hex>)).
func (c *Cluster) checkAPIVersionRanges(ctx *kvrpcpb.Context, cmd string, raw bool, ranges ...apiRange) string {
	req := ctx.GetApiVersion()
	mode, ok := c.requiredKeyMode(req, raw)
	if !ok {
		return c.apiVersionNotMatched(cmd, req)
	}
	if mode == keyModeUnknown {
		return ""
	}
	for _, r := range ranges {
		if parseRangeMode(r) != mode {
			end := "None"
			if !r.openEnd {
				end = fmt.Sprintf("Some(%q)", fmt.Sprintf("%X", r.end))
			}
			return fmt.Sprintf("Key mode mismatched with the request mode, cmd: %s, storage: %s, range: (Some(%q), %s)",
				cmd, apiVersionName(c.engine.api), fmt.Sprintf("%X", r.start), end)
		}
	}
	return ""
}

// rawCF is Storage::rawkv_cf: the column family a raw request names, or the
// error TiKV returns. V1 and V1TTL accept "" (default), "default", "lock"
// and "write"; V2 accepts only "" and calls any explicit name deprecated.
func (c *Cluster) rawCF(cf string) (string, string) {
	if cf == "" {
		return cfDefault, ""
	}
	if c.engine.api == kvrpcpb.APIVersion_V2 {
		return "", "cf is deprecated in API V2, cf name: " + cf
	}
	switch cf {
	case cfDefault, cfLock, cfWrite:
		return cf, ""
	}
	return "", "invalid cf name: " + cf
}

// ttlEnabled is KvFormat::IS_TTL_ENABLED: V1TTL and V2 store expiry times.
func (c *Cluster) ttlEnabled() bool { return c.engine.api != kvrpcpb.APIVersion_V1 }

// Raw error texts, TiKV's Display of storage::ErrorInner.
const (
	errTTLNotEnabled  = "ttl is not enabled, but get put request with ttl"
	errTTLLenMismatch = "The length of ttls does not equal to the length of pairs"
)

// checkTTLs is Storage::check_ttl_valid for n pairs: without TTL support
// any non-zero ttl is refused; with it, ttls must have one entry per pair
// (the service has already widened an empty or single-entry list).
func (c *Cluster) checkTTLs(n int, ttls []uint64) string {
	if !c.ttlEnabled() {
		for _, t := range ttls {
			if t != 0 {
				return errTTLNotEnabled
			}
		}
		return ""
	}
	if len(ttls) != n {
		return errTTLLenMismatch
	}
	return ""
}

// maxKeySize is TiKV's storage.max-key-size default.
const maxKeySize = 8192

// checkKeySize is check_key_size! for raw writes: the raw (user) key length
// is limited, not the stored form's.
func checkKeySize(keys ...[]byte) string {
	for _, k := range keys {
		if len(k) > maxKeySize {
			return fmt.Sprintf("max key size exceeded, size: %d, limit: %d", len(k), maxKeySize)
		}
	}
	return ""
}

// firstErr returns the first non-empty message.
func firstErr(msgs ...string) string {
	for _, m := range msgs {
		if m != "" {
			return m
		}
	}
	return ""
}

// widenTTLs is future_raw_batch_put's reading of ttls: none means 0 for
// every pair, exactly one applies to every pair (compatibility with old
// clients), otherwise they are taken as given. The deprecated single ttl
// field is ignored.
func widenTTLs(ttls []uint64, n int) []uint64 {
	switch len(ttls) {
	case 0:
		return make([]uint64, n)
	case 1:
		out := make([]uint64, n)
		for i := range out {
			out[i] = ttls[0]
		}
		return out
	}
	return ttls
}

// checkKeyRanges is Storage::check_key_ranges: a non-empty end must lie
// after the start (forward) or before it (reverse); an empty end of any
// range but the last stands for the next range's start.
func checkKeyRanges(ranges []*kvrpcpb.KeyRange, reverse bool) bool {
	for i, r := range ranges {
		end := r.EndKey
		if len(end) == 0 && i+1 < len(ranges) {
			end = ranges[i+1].StartKey
		}
		if len(end) == 0 {
			continue
		}
		if c := bytes.Compare(r.StartKey, end); (!reverse && c >= 0) || (reverse && c <= 0) {
			return false
		}
	}
	return true
}
