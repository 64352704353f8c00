package mocktikv

import (
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"

	"github.com/tikvgo/tikv/transport"
)

// DefaultHealthFeedbackInterval is how often a store attaches its health
// feedback to a BatchCommands stream's responses unless
// WithHealthFeedbackInterval says otherwise: TiKV's default
// server.health-feedback-interval (src/server/config.rs).
const DefaultHealthFeedbackInterval = time.Second

// WithHealthFeedbackInterval sets the stores' health-feedback interval
// (TiKV's server.health-feedback-interval): a BatchCommands response
// carries the store's HealthFeedback when it is the first on its stream or
// at least d has passed since the stream's last one. d <= 0 turns the
// periodic feedback off, as TiKV's 0 does; a batch answering a
// GetHealthFeedback sub-request carries it regardless.
func WithHealthFeedbackInterval(d time.Duration) Option {
	return func(c *config) { c.healthInterval = max(d, 0) }
}

// Slow scores as TiKV's raftstore computes them
// (components/health_controller/src/slow_score.rs): 1 for a healthy store,
// up to 100 for one whose disk or raftstore is stuck.
const (
	minSlowScore = 1
	maxSlowScore = 100
)

// SetSlowScore sets the slow score store id reports in its health feedback
// (GetHealthFeedback and the feedback attached to BatchCommands responses),
// simulating a store whose raftstore is slow. TiKV's score lies in [1, 100]
// and starts at 1 (components/health_controller/src/lib.rs); a store
// restarted with StartStore starts at 1 again, as a new process does.
// SetSlowScore fails for an unknown store or a score out of range.
func (c *Cluster) SetSlowScore(id uint64, score int) error {
	if score < minSlowScore || score > maxSlowScore {
		return fmt.Errorf("mocktikv: slow score %d out of [%d, %d]", score, minSlowScore, maxSlowScore)
	}
	c.mu.RLock()
	_, ok := c.stores[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	c.health.store(id).setSlowScore(int32(score))
	return nil
}

// healthState is every store's health-feedback state.
type healthState struct {
	interval time.Duration // <= 0: no periodic feedback

	mu     sync.Mutex
	stores map[uint64]*storeHealth // created on first use
}

func newHealthState(interval time.Duration) *healthState {
	return &healthState{interval: interval, stores: make(map[uint64]*storeHealth)}
}

func (h *healthState) store(id uint64) *storeHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stores[id]
	if s == nil {
		s = newStoreHealth(id)
		h.stores[id] = s
	}
	return s
}

// restart resets a store's feedback state as a new TiKV process has it.
func (h *healthState) restart(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stores[id] = newStoreHealth(id)
}

// storeHealth is one store's feedback source.
type storeHealth struct {
	id        uint64
	mu        sync.Mutex
	slowScore int32
	nextSeq   uint64
}

// newStoreHealth starts the sequence at the current unix time in
// milliseconds, as TiKV's kv service does when it starts
// (src/server/service/kv.rs, Service::new), so that feedback from a
// restarted store normally sorts after the old process's. The mock creates
// it when the store is first asked for feedback (or restarted), which
// stands in for the process's start.
func newStoreHealth(id uint64) *storeHealth {
	return &storeHealth{id: id, slowScore: minSlowScore, nextSeq: uint64(time.Now().UnixMilli())}
}

func (s *storeHealth) setSlowScore(score int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowScore = score
}

// feedback returns a new feedback message, consuming one sequence number
// (TiKV's gen_health_feedback_pb: one fetch_add per message).
func (s *storeHealth) feedback() *kvrpcpb.HealthFeedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.nextSeq
	s.nextSeq++
	return &kvrpcpb.HealthFeedback{StoreId: s.id, FeedbackSeqNo: seq, SlowScore: s.slowScore}
}

// registerHealthHandlers adds GetHealthFeedback.
func registerHealthHandlers(t handlerTable) {
	t[transport.CmdGetHealthFeedback] = typed((*Cluster).getHealthFeedback)
}

// getHealthFeedback is GetHealthFeedback (src/server/service/kv.rs
// get_health_feedback): the store's feedback, with a fresh sequence number.
// It is store-level: only the cluster id is checked (by execute), and no
// region error is ever set.
func (c *Cluster) getHealthFeedback(storeID uint64, _ *kvrpcpb.GetHealthFeedbackRequest) *kvrpcpb.GetHealthFeedbackResponse {
	return &kvrpcpb.GetHealthFeedbackResponse{HealthFeedback: c.health.store(storeID).feedback()}
}

// feedbackAttacher decides which responses of one BatchCommands stream
// carry the store's health feedback (TiKV's HealthFeedbackAttacher in
// src/server/service/kv.rs): a batch answering a GetHealthFeedback
// sub-request always does, with the same feedback the sub-response holds;
// otherwise the stream's first batch does, and then the first one sent at
// least the interval after the last that did. Nothing is pushed on a
// timer: feedback rides on responses the stream sends anyway. Its methods
// are called with the stream's send lock held.
type feedbackAttacher struct {
	store    *storeHealth
	interval time.Duration
	last     time.Time // zero: none attached yet
}

// attach sets out.HealthFeedback when the rule above says so.
func (a *feedbackAttacher) attach(out *tikvpb.BatchCommandsResponse, now time.Time) {
	for _, r := range out.Responses {
		if hf := r.GetGetHealthFeedback(); hf != nil {
			if hf.HealthFeedback == nil {
				hf.HealthFeedback = a.store.feedback()
			}
			out.HealthFeedback, a.last = hf.HealthFeedback, now
			return
		}
	}
	if a.interval <= 0 || (!a.last.IsZero() && now.Sub(a.last) < a.interval) {
		return
	}
	out.HealthFeedback, a.last = a.store.feedback(), now
}
