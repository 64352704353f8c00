package mocktikv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Real PD embeds etcd and serves its v3 API on PD's client address; clients
// use it directly: client-go's txnkv.NewClient builds an etcd client on
// the PD addresses, syncs the member list (Cluster.MemberList) and reads the
// txn safe point from "/tidb/store/gcworker/saved_safe_point" when PD lacks
// the GC states API (tikv/compatible_txn_safe_point_loader.go); TiDB keeps
// its own keys there. etcdState is that key space: an in-memory, single
// member etcd whose KV follows etcd's rules (server/etcdserver/txn/txn.go)
// with these limits, stated here so no test trips on them unawares:
//   - no history: a read at a past revision answers ErrCompacted;
//   - no leases (a Put naming one answers ErrLeaseNotFound) and no Watch.
//
// The keys in which PD persists its GC state (pkg/utils/keypath) are a view
// of the mock's GC state, rebuilt before every request, so a Range reads
// the txn safe point, GC safe point and barriers the GC API set; a write to
// one of them is refused, as only PD's GC API may change that state.

// txnSafePointKey is where PD persists the unified txn safe point (decimal),
// the path older TiDB wrote directly (keypath.unifiedTxnSafePointPath).
const txnSafePointKey = "/tidb/store/gcworker/saved_safe_point"

// etcdMaxTxnOps is etcd's default --max-txn-ops.
const etcdMaxTxnOps = 128

// errGCKeyReadOnly refuses a write to a key that mirrors the GC state.
func errGCKeyReadOnly(key []byte) error {
	return status.Errorf(codes.FailedPrecondition, "mocktikv: %q mirrors PD's GC state, which only PD's GC API changes", key)
}

// etcdState is PD's embedded etcd: its member and its key space.
type etcdState struct {
	c   *Cluster
	url string // the single member's client and peer URL

	mu  sync.Mutex
	rev int64 // the store's revision; 1 when empty, as in a new etcd
	kvs map[string]*mvccpb.KeyValue
	// gcKeys are the keys currently mirroring the GC state.
	gcKeys map[string]bool
}

func newEtcdState(c *Cluster, url string) *etcdState {
	return &etcdState{c: c, url: url, rev: 1, kvs: map[string]*mvccpb.KeyValue{}, gcKeys: map[string]bool{}}
}

func (s *etcdState) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.c.clusterID, MemberId: pdMemberID, Revision: s.rev, RaftTerm: 1}
}

func (s *etcdState) member() *pb.Member {
	return &pb.Member{ID: pdMemberID, Name: "mocktikv-pd", PeerURLs: []string{s.url}, ClientURLs: []string{s.url}}
}

// gcPrefix is the root of PD's GC keys (keypath: "/pd/{cluster_id}/gc/").
func (s *etcdState) gcPrefix() string { return fmt.Sprintf("/pd/%d/gc/", s.c.clusterID) }

// isGCKey reports whether key mirrors the GC state.
func (s *etcdState) isGCKey(key []byte) bool {
	return string(key) == txnSafePointKey || strings.HasPrefix(string(key), s.gcPrefix())
}

// rangeTouchesGC reports whether [key, end) could hold a GC key.
func (s *etcdState) rangeTouchesGC(key, end []byte) bool {
	if len(end) == 0 {
		return s.isGCKey(key)
	}
	in := func(k []byte) bool {
		return bytes.Compare(k, key) >= 0 && (isAllKeys(end) || bytes.Compare(k, end) < 0)
	}
	p := []byte(s.gcPrefix())
	pEnd := prefixEnd(p)
	overlapsPrefix := bytes.Compare(key, pEnd) < 0 && (isAllKeys(end) || bytes.Compare(end, p) > 0)
	return in([]byte(txnSafePointKey)) || overlapsPrefix
}

// isAllKeys is etcd's "\x00" range end: every key from the start key on.
func isAllKeys(end []byte) bool { return len(end) == 1 && end[0] == 0 }

// prefixEnd is clientv3.GetPrefixRangeEnd: the first key after every key
// with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// serviceSafePointJSON is how PD stores a GC barrier: as the service safe
// point it replaced (pkg/storage/endpoint/gc_states.go ServiceSafePoint;
// expired_at is Unix seconds, MaxInt64 for never).
type serviceSafePointJSON struct {
	ServiceID string `json:"service_id"`
	ExpiredAt int64  `json:"expired_at"`
	SafePoint uint64 `json:"safe_point"`
}

// globalBarrierJSON is PD's GlobalGCBarrier (expiration_time in Unix
// seconds, 0 for never).
type globalBarrierJSON struct {
	BarrierID      string `json:"barrier_id"`
	BarrierTS      uint64 `json:"barrier_ts"`
	ExpirationTime int64  `json:"expiration_time"`
}

// expiryUnix is PD's expiration time in whole seconds, rounded up as
// NewGCBarrier rounds it; never is the value for a barrier that does not
// expire.
func expiryUnix(t time.Time, never int64) int64 {
	if t.IsZero() {
		return never
	}
	return t.Add(time.Second - time.Nanosecond).Truncate(time.Second).Unix()
}

// gcView renders the GC state as PD persists it: the txn safe point in
// decimal, the GC safe point in hex, barriers as JSON.
func (s *etcdState) gcView() map[string]string {
	snap := s.c.gc.snapshot()
	view := map[string]string{}
	if snap.txnSafePoint > 0 {
		view[txnSafePointKey] = strconv.FormatUint(snap.txnSafePoint, 10)
	}
	if snap.gcSafePoint > 0 {
		view[s.gcPrefix()+"safe_point"] = strconv.FormatUint(snap.gcSafePoint, 16)
	}
	for _, b := range snap.barriers {
		v, _ := json.Marshal(serviceSafePointJSON{ServiceID: b.id, ExpiredAt: expiryUnix(b.expires, math.MaxInt64), SafePoint: b.ts})
		view[s.gcPrefix()+"safe_point/service/"+b.id] = string(v)
	}
	for _, b := range snap.global {
		v, _ := json.Marshal(globalBarrierJSON{BarrierID: b.id, BarrierTS: b.ts, ExpirationTime: expiryUnix(b.expires, 0)})
		view[s.gcPrefix()+"global_gc_barriers/"+b.id] = string(v)
	}
	return view
}

// syncGCLocked brings the GC keys up to date, as one write at one new
// revision when anything changed (PD writes GC state in etcd txns).
func (s *etcdState) syncGCLocked() {
	view := s.gcView()
	w := s.beginWrite()
	for k := range s.gcKeys {
		if _, ok := view[k]; !ok {
			w.delete(k)
			delete(s.gcKeys, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(view)) {
		if cur := s.kvs[k]; cur == nil || string(cur.Value) != view[k] {
			w.put([]byte(k), []byte(view[k]))
		}
		s.gcKeys[k] = true
	}
	w.commit()
}

// etcdWrite collects the writes of one request: they all carry the
// revision after the current one, which becomes current at commit if
// anything was written.
type etcdWrite struct {
	s     *etcdState
	rev   int64
	wrote bool
}

func (s *etcdState) beginWrite() *etcdWrite { return &etcdWrite{s: s, rev: s.rev + 1} }

func (w *etcdWrite) put(key, value []byte) (prev *mvccpb.KeyValue) {
	prev = w.s.kvs[string(key)]
	kv := &mvccpb.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value), CreateRevision: w.rev, ModRevision: w.rev, Version: 1}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	w.s.kvs[string(key)] = kv
	w.wrote = true
	return prev
}

func (w *etcdWrite) delete(key string) {
	delete(w.s.kvs, key)
	w.wrote = true
}

func (w *etcdWrite) commit() {
	if w.wrote {
		w.s.rev = w.rev
	}
}

// matchLocked returns the keys in etcd's range [key, end), sorted: one key
// when end is empty, every key from key on when end is "\x00" (and every
// key when key is "\x00" too).
func (s *etcdState) matchLocked(key, end []byte) []*mvccpb.KeyValue {
	if len(end) == 0 {
		if kv := s.kvs[string(key)]; kv != nil {
			return []*mvccpb.KeyValue{kv}
		}
		return nil
	}
	var out []*mvccpb.KeyValue
	for k, kv := range s.kvs {
		if k >= string(key) && (isAllKeys(end) || k < string(end)) {
			out = append(out, kv)
		}
	}
	slices.SortFunc(out, func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

// rangeLocked is etcd's Range: count is every key in the range; filters,
// sorting and the limit then shape kvs, and more says the limit cut some.
func (s *etcdState) rangeLocked(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	switch {
	case r.Revision > s.rev:
		return nil, rpctypes.ErrGRPCFutureRev
	case r.Revision > 0 && r.Revision < s.rev:
		return nil, rpctypes.ErrGRPCCompacted
	}
	all := s.matchLocked(r.Key, r.RangeEnd)
	resp := &pb.RangeResponse{Header: s.header(), Count: int64(len(all))}
	if r.CountOnly {
		return resp, nil
	}
	kvs := slices.DeleteFunc(slices.Clone(all), func(kv *mvccpb.KeyValue) bool {
		return (r.MinModRevision > 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxModRevision > 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinCreateRevision > 0 && kv.CreateRevision < r.MinCreateRevision) ||
			(r.MaxCreateRevision > 0 && kv.CreateRevision > r.MaxCreateRevision)
	})
	sortKVs(kvs, r.SortOrder, r.SortTarget)
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs, resp.More = kvs[:r.Limit], true
	}
	for _, kv := range kvs {
		out := *kv
		if r.KeysOnly {
			out.Value = nil
		}
		resp.Kvs = append(resp.Kvs, &out)
	}
	return resp, nil
}

// sortKVs applies etcd's sort options to key-ordered kvs: a target other
// than the key with no order means ascending (etcd's default then).
func sortKVs(kvs []*mvccpb.KeyValue, order pb.RangeRequest_SortOrder, target pb.RangeRequest_SortTarget) {
	if order == pb.RangeRequest_NONE {
		if target == pb.RangeRequest_KEY {
			return
		}
		order = pb.RangeRequest_ASCEND
	}
	cmp := func(a, b *mvccpb.KeyValue) int {
		switch target {
		case pb.RangeRequest_VERSION:
			return compareInt64(a.Version, b.Version)
		case pb.RangeRequest_CREATE:
			return compareInt64(a.CreateRevision, b.CreateRevision)
		case pb.RangeRequest_MOD:
			return compareInt64(a.ModRevision, b.ModRevision)
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value)
		}
		return bytes.Compare(a.Key, b.Key)
	}
	if order == pb.RangeRequest_DESCEND {
		slices.SortStableFunc(kvs, func(a, b *mvccpb.KeyValue) int { return cmp(b, a) })
		return
	}
	slices.SortStableFunc(kvs, cmp)
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
