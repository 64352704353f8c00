package observe

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CallStats collects what the calls made under one context cost, attempt
// by attempt: the attempts per command and their round-trip time, each
// attempt's replica (store, address, region, peer and its role, the read
// mode) and outcome, the backoff sleeps per policy, and the time spent
// waiting for PD. It is client-go's RegionRequestRuntimeStats and
// ReplicaAccessStats together with the BackoffCount, BackoffDuration,
// WaitKVRespDuration and WaitPDRespDuration of its util.ExecDetails, for
// raw calls as for transactional ones.
//
// Attach it to a context with WithCallStats; every plan called with that
// context (and every Step called on its own with it) records into it,
// whether or not an Observer watches. The zero value is ready to use; it is
// safe for concurrent use, and one value may collect for many calls (a
// statement's reads, a batch job). RU and bytes on the wire have their own
// collectors (middleware.WithRUDetails, middleware.WithTrafficDetails);
// txn.SnapshotRuntimeStats adds TiKV's exec details of a snapshot's reads.
//
// The attempts are counted as the plans send them, every retry and
// re-route included; what the middleware does inside one attempt (a
// rate-limit wait, a breaker's refusal) is part of that attempt's time.
type CallStats struct {
	mu       sync.Mutex
	rpcs     map[string]Count
	backoffs map[string]Count
	pd       map[string]Count
	errs     map[string]int
	accesses []Access
	dropped  int
}

// Count is a number of events and the total time they took.
type Count struct {
	N     int
	Total time.Duration
}

// Access is one attempt: where it went and how it ended (client-go's
// ReplicaAccessStats keeps the same per attempt).
type Access struct {
	// Call, Piece and Attempt identify the attempt as transport.Request
	// does.
	Call    Call
	Piece   int
	Attempt int
	// Cmd is the command's name ("RawGet").
	Cmd string
	// StoreID and Addr are the store the attempt went to; RegionID the
	// region; PeerID the region's peer on that store.
	StoreID  uint64
	Addr     string
	RegionID uint64
	PeerID   uint64
	// Role is the peer's role when the attempt was sent: "leader",
	// "follower" or "learner".
	Role string
	// ReplicaRead and StaleRead are the read mode the attempt declared.
	ReplicaRead, StaleRead bool
	// Duration is the attempt's round trip, middleware included.
	Duration time.Duration
	// ErrKind labels the outcome: "" for an answer that needs no retry, a
	// region error's kind ("NotLeader", "EpochNotMatch", ...; see
	// kv.RegionErrorKind), or, for a send failure, "NotSent" (it provably
	// never reached TiKV), "Timeout" or "SendFailed".
	ErrKind string
	// Err is the send failure, or the region error as a *kv.RegionError;
	// nil otherwise.
	Err error
}

// MaxAccesses is how many attempts CallStats keeps in detail (Accesses);
// later ones are counted in Dropped and still in every total. client-go
// keeps 5 per request; a collector shared by many calls needs more.
const MaxAccesses = 256

// maxErrKinds caps the distinct error labels counted (client-go caps its
// request error stats at 16); the rest are counted as "other_error".
const maxErrKinds = 16

type callStatsKey struct{}

// WithCallStats returns ctx under which calls record into s. A nil s
// returns ctx unchanged.
func WithCallStats(ctx context.Context, s *CallStats) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, callStatsKey{}, s)
}

// CallStatsFrom returns the CallStats ctx carries, or nil.
func CallStatsFrom(ctx context.Context) *CallStats {
	s, _ := ctx.Value(callStatsKey{}).(*CallStats)
	return s
}

// RecordAttempt adds one attempt. Plans call it (pipeline.Retry does, for
// every attempt it sends); a user's Sender-level plan may too.
func (s *CallStats) RecordAttempt(a Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rpcs = add(s.rpcs, a.Cmd, a.Duration)
	if a.ErrKind != "" {
		if s.errs == nil {
			s.errs = map[string]int{}
		}
		label := a.ErrKind
		if _, ok := s.errs[label]; !ok && len(s.errs) >= maxErrKinds {
			label = "other_error"
		}
		s.errs[label]++
	}
	if len(s.accesses) < MaxAccesses {
		s.accesses = append(s.accesses, a)
	} else {
		s.dropped++
	}
}

// RecordBackoff adds one backoff sleep under the named policy.
func (s *CallStats) RecordBackoff(policy string, sleep time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backoffs = add(s.backoffs, policy, sleep)
}

// RecordPD adds one PD RPC (method "GetRegion", "GetStore", "GetTS", ...)
// that took d.
func (s *CallStats) RecordPD(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pd = add(s.pd, method, d)
}

func add(m map[string]Count, k string, d time.Duration) map[string]Count {
	if m == nil {
		m = map[string]Count{}
	}
	c := m[k]
	c.N++
	c.Total += d
	m[k] = c
	return m
}

// RPCs returns the attempts per command name and their total round trip.
func (s *CallStats) RPCs() map[string]Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.rpcs)
}

// RPCCount returns how many attempts of the command named cmd were sent
// (client-go's GetCmdRPCCount).
func (s *CallStats) RPCCount(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rpcs[cmd].N
}

// Backoffs returns the sleeps per backoff policy and their total.
func (s *CallStats) Backoffs() map[string]Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.backoffs)
}

// PDWaits returns the PD RPCs per method and their total time.
func (s *CallStats) PDWaits() map[string]Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.pd)
}

// Errors returns the attempts that failed or met a region error, per
// ErrKind (client-go's RequestErrorStats), at most 16 kinds and the rest
// as "other_error".
func (s *CallStats) Errors() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errs)
}

// Accesses returns the attempts kept in detail, in the order they ended.
func (s *CallStats) Accesses() []Access {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accesses)
}

// Dropped returns how many attempts were not kept in detail (beyond
// MaxAccesses).
func (s *CallStats) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// WaitKV returns the total round trip of every attempt (client-go's
// WaitKVRespDuration).
func (s *CallStats) WaitKV() time.Duration {
	return total(s, func(s *CallStats) map[string]Count { return s.rpcs }).Total
}

// WaitPD returns the total time of the PD RPCs (WaitPDRespDuration).
func (s *CallStats) WaitPD() time.Duration {
	return total(s, func(s *CallStats) map[string]Count { return s.pd }).Total
}

// Backoff returns the number of backoff sleeps and their total time, over
// every policy (BackoffCount, BackoffDuration).
func (s *CallStats) Backoff() Count {
	return total(s, func(s *CallStats) map[string]Count { return s.backoffs })
}

func total(s *CallStats, pick func(*CallStats) map[string]Count) Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Count
	for _, c := range pick(s) {
		t.N += c.N
		t.Total += c.Total
	}
	return t
}

// Merge adds o's records into s (a statement's calls into its session's,
// as client-go merges RegionRequestRuntimeStats). o must not be s.
func (s *CallStats) Merge(o *CallStats) {
	o.mu.Lock()
	rpcs, backoffs, pd := maps.Clone(o.rpcs), maps.Clone(o.backoffs), maps.Clone(o.pd)
	errs, accesses, dropped := maps.Clone(o.errs), slices.Clone(o.accesses), o.dropped
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rpcs = merge(s.rpcs, rpcs)
	s.backoffs = merge(s.backoffs, backoffs)
	s.pd = merge(s.pd, pd)
	for k, n := range errs {
		if s.errs == nil {
			s.errs = map[string]int{}
		}
		if _, ok := s.errs[k]; !ok && len(s.errs) >= maxErrKinds {
			k = "other_error"
		}
		s.errs[k] += n
	}
	room := max(0, MaxAccesses-len(s.accesses))
	keep := min(room, len(accesses))
	s.accesses = append(s.accesses, accesses[:keep]...)
	s.dropped += dropped + len(accesses) - keep
}

func merge(dst, src map[string]Count) map[string]Count {
	if len(src) > 0 && dst == nil {
		dst = map[string]Count{}
	}
	for k, v := range src {
		c := dst[k]
		c.N += v.N
		c.Total += v.Total
		dst[k] = c
	}
	return dst
}

// String summarises the stats in the shape of client-go's slow-log line,
// names in order: "RawGet:{num_rpc:2, total_time:3ms},
// regionMiss_backoff:{num:1, total_time:2ms}, pd_GetRegion:{num:1,
// total_time:1ms}, errors:{EpochNotMatch:1}". Empty parts are left out.
func (s *CallStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	write := func(m map[string]Count, prefix, suffix, num string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			c := m[k]
			parts = append(parts, prefix+k+suffix+":{"+num+":"+strconv.Itoa(c.N)+", total_time:"+c.Total.String()+"}")
		}
	}
	write(s.rpcs, "", "", "num_rpc")
	write(s.backoffs, "", "_backoff", "num")
	write(s.pd, "pd_", "", "num")
	if len(s.errs) > 0 {
		var es []string
		for _, k := range slices.Sorted(maps.Keys(s.errs)) {
			es = append(es, k+":"+strconv.Itoa(s.errs[k]))
		}
		parts = append(parts, "errors:{"+strings.Join(es, ", ")+"}")
	}
	return strings.Join(parts, ", ")
}
