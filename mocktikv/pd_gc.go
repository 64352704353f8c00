package mocktikv

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// PD's GC states (pkg/gc/gc_state_manager.go): the txn safe point, the GC
// safe point, GC barriers and global GC barriers. PD keeps them per keyspace
// for keyspaces with keyspace-level GC (keyspace config
// gc_management_type=keyspace_level, WithKeyspaceLevelGC) and once, for the
// null keyspace, for everything under unified GC; global GC barriers are
// the cluster's, one set that every keyspace's txn safe point respects. A
// call naming a keyspace is redirected as PD redirects it (see
// gcStatesFor).
//
// The invariants PD maintains, and this type with it:
//  1. the txn safe point never decreases;
//  2. the GC safe point never decreases;
//  3. GC safe point <= txn safe point;
//  4. an advance of the txn safe point stops at the smallest unexpired
//     barrier (global ones included): t' <= max(t, min barrier ts).

// gcWorkerServiceID is the service id reserved for the GC worker
// (keypath.GCWorkerServiceSafePointID): as a service safe point it is the
// txn safe point, and no barrier may use it.
const gcWorkerServiceID = "gc_worker"

// nativeBRServiceID is the service id BR uses; PD maps its service safe
// point in the null keyspace to a global GC barrier.
const nativeBRServiceID = "native_br"

// gcStates is one set of GC states: the cluster's unified ones (Cluster.gc,
// the null keyspace's) or a keyspace-level GC keyspace's. All the states of
// a cluster share one mutex (global barriers span them), which is never
// held with c.mu.
type gcStates struct {
	mu *sync.Mutex
	// keyspaceID is the keyspace the states belong to (NullKeyspaceID for
	// the unified ones) and name its name for error texts.
	keyspaceID   uint32
	name         string
	txnSafePoint uint64
	gcSafePoint  uint64
	barriers     map[string]gcBarrier
	global       map[string]gcBarrier // the cluster's, shared by all states
	// keyspaces holds, in the unified states only, the states of each
	// keyspace with keyspace-level GC; fixed after NewCluster.
	keyspaces map[uint32]*gcStates
}

// gcBarrier is a GC barrier (or global GC barrier). A zero expires means it
// never expires.
type gcBarrier struct {
	id      string
	ts      uint64
	expires time.Time
}

// expired is GCBarrier.IsExpired: strictly after the expiration time.
func (b gcBarrier) expired(now time.Time) bool {
	return !b.expires.IsZero() && now.After(b.expires)
}

// ttlSeconds is the remaining lifetime PD reports: whole seconds, rounded
// down and never negative, or MaxInt64 for a barrier that never expires.
func (b gcBarrier) ttlSeconds(now time.Time) int64 {
	if b.expires.IsZero() {
		return math.MaxInt64
	}
	return int64(max(b.expires.Sub(now), 0) / time.Second)
}

// describe renders a blocking barrier the way PD's blocker description
// does (GCBarrier.String / GlobalGCBarrier.String).
func (b gcBarrier) describe(kind string) string {
	exp := "<nil>"
	if !b.expires.IsZero() {
		exp = b.expires.String()
	}
	return fmt.Sprintf("%s { BarrierID: %+q, BarrierTS: %d, ExpirationTime: %+q }", kind, b.id, b.ts, exp)
}

// newGCStates returns the unified GC states of a new cluster.
func newGCStates() *gcStates {
	return &gcStates{mu: &sync.Mutex{}, keyspaceID: NullKeyspaceID, name: "<null_keyspace>",
		barriers: map[string]gcBarrier{}, global: map[string]gcBarrier{}, keyspaces: map[uint32]*gcStates{}}
}

// addKeyspace gives keyspace id (named name) GC states of its own
// (keyspace-level GC), all zero, sharing the cluster's global barriers.
// Only NewCluster calls it.
func (g *gcStates) addKeyspace(id uint32, name string) {
	g.keyspaces[id] = &gcStates{mu: g.mu, keyspaceID: id, name: name,
		barriers: map[string]gcBarrier{}, global: g.global}
}

// keyspaceLevel reports whether these are a keyspace's own GC states.
func (g *gcStates) keyspaceLevel() bool { return g.keyspaceID != NullKeyspaceID }

// PD's GC error texts (pkg/errs), which clients see in the response header.
func errDecreasingTxnSafePoint(cur, target uint64) error {
	return fmt.Errorf("[PD:gc:ErrDecreasingTxnSafePoint]trying to update txn safe point to a smaller value, current value: %d, given: %d", cur, target)
}

func errDecreasingGCSafePoint(cur, target uint64) error {
	return fmt.Errorf("[PD:gc:ErrDecreasingGCSafePoint]trying to update GC safe point to a smaller value, current value: %d, given: %d", cur, target)
}

func errGCSafePointExceedsTxnSafePoint(cur, target, txn uint64) error {
	return fmt.Errorf("[PD:gc:ErrGCSafePointExceedsTxnSafePoint]trying to update GC safe point to a too large value that exceeds the txn safe point, current value: %d, given: %d, current txn safe point: %d", cur, target, txn)
}

// errBarrierBehind is ErrGCBarrierTSBehindTxnSafePoint.
type errBarrierBehind struct{ ts, txn uint64 }

func (e errBarrierBehind) Error() string {
	return fmt.Sprintf("[PD:gc:ErrGCBarrierTSBehindTxnSafePoint]trying to set a GC barrier on ts %d which is already behind the txn safe point %d", e.ts, e.txn)
}

func errInvalidGCArgument(what string, v any) error {
	return fmt.Errorf("[PD:common:ErrInvalidArgument]invalid argument for %s: %v", what, v)
}

// gcStatesFor is GCStateManager.redirectKeyspace: the states a call naming
// keyspaceID works on. An id outside the 24-bit keyspace range means the
// null keyspace (the unified states); an unknown keyspace is an error; a
// keyspace with keyspace-level GC has states of its own; one without is
// served from the unified states by the user APIs (barriers, GetGCState)
// and refused by the internal ones (advancing the safe points), which only
// the unified GC worker may drive.
func (c *Cluster) gcStatesFor(keyspaceID uint32, userAPI bool) (*gcStates, error) {
	if keyspaceID&^maxKeyspaceID != 0 {
		return c.gc, nil
	}
	m := c.keyspaces.byID(keyspaceID)
	if m == nil {
		return nil, fmt.Errorf("%s", errKeyspaceNotFound)
	}
	if g := c.gc.keyspaces[keyspaceID]; g != nil {
		return g, nil
	}
	if !userAPI {
		return nil, fmt.Errorf("[PD:gc:ErrGCOnInvalidKeyspace]trying to manage GC in keyspace %v (id: %v) where keyspace level GC is not enabled", m.Name, keyspaceID)
	}
	return c.gc, nil
}

// txnAdvance is the result of advancing the txn safe point.
type txnAdvance struct {
	old, new uint64
	blocker  string
	// blockerID names what blocked the advance (for the service safe
	// point compatibility API); empty when nothing did.
	blockerID string
}

// advanceTxnSafePoint is advanceTxnSafePointImpl: a target below the
// current txn safe point is an error; expired barriers are deleted, the
// others (global ones included) cap the advance; the txn safe point never
// moves back even when a barrier is below it.
func (g *gcStates) advanceTxnSafePoint(target uint64, now time.Time) (txnAdvance, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if target < g.txnSafePoint {
		return txnAdvance{}, errDecreasingTxnSafePoint(g.txnSafePoint, target)
	}
	res := txnAdvance{old: g.txnSafePoint}
	minBlocker := target
	for _, set := range []struct {
		m    map[string]gcBarrier
		kind string
	}{{g.barriers, "GCBarrier"}, {g.global, "GlobalGCBarrier"}} {
		// Sorted, so that among equal barriers the blocker reported is
		// deterministic. Global barriers are looked at last and win only
		// when strictly lower, as in PD.
		for _, id := range slices.Sorted(maps.Keys(set.m)) {
			b := set.m[id]
			if b.expired(now) {
				delete(set.m, id)
				continue
			}
			if b.ts < minBlocker {
				minBlocker = b.ts
				res.blocker, res.blockerID = b.describe(set.kind), b.id
			}
		}
	}
	res.new = max(g.txnSafePoint, minBlocker)
	g.txnSafePoint = res.new
	return res, nil
}

// advanceGCSafePoint is advanceGCSafePointImpl: the GC safe point may not
// go back (an error, or in the compatible mode of the deprecated
// UpdateGCSafePoint a no-op that reports the current value) nor pass the
// txn safe point.
func (g *gcStates) advanceGCSafePoint(target uint64, compatible bool) (old, new uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old = g.gcSafePoint
	if target < old {
		if compatible {
			return old, old, nil
		}
		return 0, 0, errDecreasingGCSafePoint(old, target)
	}
	if target > g.txnSafePoint {
		return 0, 0, errGCSafePointExceedsTxnSafePoint(old, target, g.txnSafePoint)
	}
	g.gcSafePoint = target
	return old, target, nil
}

// barrierExpiry converts a requested TTL to an expiration time: TTLs are
// positive; MaxInt64 (the client's TTLNeverExpire) never expires.
func barrierExpiry(ttl time.Duration, now time.Time) (time.Time, error) {
	if ttl <= 0 {
		return time.Time{}, errInvalidGCArgument("ttl", ttl)
	}
	if ttl == time.Duration(math.MaxInt64) {
		return time.Time{}, nil
	}
	return now.Add(ttl), nil
}

// setBarrier is setGCBarrierImpl: it adds or replaces a barrier, which may
// not be behind the txn safe point; "gc_worker" and the empty id are
// reserved.
func (g *gcStates) setBarrier(id string, ts uint64, ttl time.Duration, now time.Time) (gcBarrier, error) {
	if id == gcWorkerServiceID {
		return gcBarrier{}, fmt.Errorf("[PD:gc:ErrReservedGCBarrierID]trying to set a GC barrier with a barrier ID that is reserved: %v", id)
	}
	if id == "" {
		return gcBarrier{}, errInvalidGCArgument("barrierID", id)
	}
	expires, err := barrierExpiry(ttl, now)
	if err != nil {
		return gcBarrier{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if ts < g.txnSafePoint {
		return gcBarrier{}, errBarrierBehind{ts: ts, txn: g.txnSafePoint}
	}
	b := gcBarrier{id: id, ts: ts, expires: expires}
	g.barriers[id] = b
	return b, nil
}

// deleteBarrier removes a barrier and returns it (ok false when there was
// none, which is not an error).
func (g *gcStates) deleteBarrier(id string) (gcBarrier, bool, error) {
	if id == gcWorkerServiceID {
		return gcBarrier{}, false, fmt.Errorf("[PD:gc:ErrReservedGCBarrierID]trying to set a GC barrier with a barrier ID that is reserved: %v", id)
	}
	if id == "" {
		return gcBarrier{}, false, errInvalidGCArgument("barrierID", id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.barriers[id]
	delete(g.barriers, id)
	return b, ok, nil
}

// setGlobalBarrier is setGlobalGCBarrierImpl: like setBarrier, checked
// against the txn safe point of every keyspace (the unified one and each
// keyspace-level one). Called on the unified states.
func (g *gcStates) setGlobalBarrier(id string, ts uint64, ttl time.Duration, now time.Time) (gcBarrier, error) {
	if id == "" {
		return gcBarrier{}, errInvalidGCArgument("barrierID", id)
	}
	expires, err := barrierExpiry(ttl, now)
	if err != nil {
		return gcBarrier{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	all := []*gcStates{g}
	for _, id := range slices.Sorted(maps.Keys(g.keyspaces)) {
		all = append(all, g.keyspaces[id])
	}
	for _, st := range all {
		if ts < st.txnSafePoint {
			return gcBarrier{}, fmt.Errorf("[PD:gc:ErrGlobalGCBarrierTSBehindTxnSafePoint]trying to set a global GC barrier on ts %d which is already behind the txn safe point %d of keyspace %s", ts, st.txnSafePoint, st.name)
		}
	}
	b := gcBarrier{id: id, ts: ts, expires: expires}
	g.global[id] = b
	return b, nil
}

func (g *gcStates) deleteGlobalBarrier(id string) (gcBarrier, bool, error) {
	if id == "" {
		return gcBarrier{}, false, errInvalidGCArgument("barrierID", id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.global[id]
	delete(g.global, id)
	return b, ok, nil
}

// gcSnapshot is a copy of the GC states.
type gcSnapshot struct {
	keyspaceID                uint32
	keyspaceLevel             bool
	txnSafePoint, gcSafePoint uint64
	barriers, global          []gcBarrier // by id
}

// snapshot copies the states. Like PD's GetGCState it lists barriers
// whether or not they have expired (expired ones are deleted lazily, by the
// next txn safe point advance).
func (g *gcStates) snapshot() gcSnapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snapshotLocked()
}

// snapshotAll copies the unified states (first) and those of every
// keyspace with keyspace-level GC, by keyspace id. Called on the unified
// states.
func (g *gcStates) snapshotAll() []gcSnapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := []gcSnapshot{g.snapshotLocked()}
	for _, id := range slices.Sorted(maps.Keys(g.keyspaces)) {
		out = append(out, g.keyspaces[id].snapshotLocked())
	}
	return out
}

func (g *gcStates) snapshotLocked() gcSnapshot {
	s := gcSnapshot{keyspaceID: g.keyspaceID, keyspaceLevel: g.keyspaceLevel(),
		txnSafePoint: g.txnSafePoint, gcSafePoint: g.gcSafePoint}
	for _, id := range slices.Sorted(maps.Keys(g.barriers)) {
		s.barriers = append(s.barriers, g.barriers[id])
	}
	for _, id := range slices.Sorted(maps.Keys(g.global)) {
		s.global = append(s.global, g.global[id])
	}
	return s
}

// serviceSafePoint is the simulated minimum service safe point the
// deprecated UpdateServiceGCSafePoint returns.
type serviceSafePoint struct {
	serviceID string
	safePoint uint64
}

// updateServiceSafePoint is CompatibleUpdateServiceGCSafePoint, which maps
// service safe points onto the GC states: "gc_worker" (whose TTL must be
// infinite) advances the txn safe point; "native_br" sets or deletes a
// global barrier; any other id sets a barrier (ttl > 0) or deletes it
// (ttl <= 0), where a safe point behind the txn safe point is not an error
// but is simply not set. The answer is the minimum service safe point:
// the txn safe point under the name "gc_worker", or, when the gc_worker's
// advance was blocked, under the blocker's name.
func (g *gcStates) updateServiceSafePoint(serviceID string, safePoint uint64, ttl int64, now time.Time) (serviceSafePoint, error) {
	ttlDur := saturatingSeconds(ttl)
	switch serviceID {
	case gcWorkerServiceID:
		if ttl != math.MaxInt64 {
			return serviceSafePoint{}, fmt.Errorf("TTL of gc_worker's service safe point must be infinity")
		}
		res, err := g.advanceTxnSafePoint(safePoint, now)
		if err != nil {
			return serviceSafePoint{}, err
		}
		if res.new != safePoint {
			return serviceSafePoint{serviceID: res.blockerID, safePoint: res.new}, nil
		}
		return serviceSafePoint{serviceID: gcWorkerServiceID, safePoint: safePoint}, nil
	case nativeBRServiceID:
		var err error
		if ttl > 0 {
			_, err = g.setGlobalBarrier(serviceID, safePoint, ttlDur, now)
		} else {
			_, _, err = g.deleteGlobalBarrier(serviceID)
		}
		if err != nil && !strings.Contains(err.Error(), "ErrGlobalGCBarrierTSBehindTxnSafePoint") {
			return serviceSafePoint{}, err
		}
	default:
		var err error
		if ttl > 0 {
			_, err = g.setBarrier(serviceID, safePoint, ttlDur, now)
		} else {
			_, _, err = g.deleteBarrier(serviceID)
		}
		if _, behind := err.(errBarrierBehind); err != nil && !behind {
			return serviceSafePoint{}, err
		}
	}
	return serviceSafePoint{serviceID: gcWorkerServiceID, safePoint: g.snapshot().txnSafePoint}, nil
}

// saturatingSeconds is typeutil.SaturatingStdDurationFromSeconds: seconds
// as a Duration, clamped to [0, MaxInt64].
func saturatingSeconds(s int64) time.Duration {
	if s <= 0 {
		return 0
	}
	if s > math.MaxInt64/int64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s) * time.Second
}

// TxnSafePoint returns PD's (unified) txn safe point: snapshots at or after
// it are safe to read.
func (c *Cluster) TxnSafePoint() uint64 { return c.gc.snapshot().txnSafePoint }

// GCSafePoint returns PD's (unified) GC safe point: versions older than it
// may be discarded. TiKV's GC follows it.
func (c *Cluster) GCSafePoint() uint64 { return c.gc.snapshot().gcSafePoint }
