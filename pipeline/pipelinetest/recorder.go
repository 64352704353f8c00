package pipelinetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// Attempt is one recorded attempt and, once it returned, its outcome.
type Attempt struct {
	// Req is the attempt as the Sender below the recorder received it.
	Req *transport.Request
	// Resp and Err are what it returned; both nil while it is in flight.
	Resp *transport.Response
	Err  error
	// Done reports that the attempt returned.
	Done bool
}

// Context returns the attempt's kvrpcpb.Context (nil for a command that
// carries none).
func (a Attempt) Context() *kvrpcpb.Context { return a.Req.Cmd.Context(a.Req.Msg) }

// String describes the attempt as "region/store#attempt", with flags
// appended: r replica read, s stale read, R is_retry_request.
func (a Attempt) String() string {
	s := fmt.Sprintf("%d/%d#%d", a.Req.Target.RegionID, a.Req.Target.StoreID, a.Req.Attempt)
	if rc := a.Context(); rc != nil {
		if rc.GetReplicaRead() {
			s += "r"
		}
		if rc.GetStaleRead() {
			s += "s"
		}
		if rc.GetIsRetryRequest() {
			s += "R"
		}
	}
	return s
}

// Recorder records every attempt that passes through it, in the order the
// attempts started, with their outcomes. Install it with Middleware (as a
// transport.Middleware) or Wrap. It is safe for concurrent use: concurrent
// attempts are all recorded, and the query methods return copies.
type Recorder struct {
	mu       sync.Mutex
	attempts []Attempt
	// epoch counts Resets, so that an attempt in flight across one does
	// not write its outcome into another's record.
	epoch int
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Middleware returns the recorder as a transport.Middleware.
func (r *Recorder) Middleware() transport.Middleware { return r.Wrap }

// Wrap returns a Sender that records each attempt, then passes it to next.
func (r *Recorder) Wrap(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		r.mu.Lock()
		i := len(r.attempts)
		r.attempts = append(r.attempts, Attempt{Req: req})
		epoch := r.epoch
		r.mu.Unlock()
		resp, err := next.Send(ctx, req)
		r.mu.Lock()
		if r.epoch == epoch {
			r.attempts[i].Resp, r.attempts[i].Err, r.attempts[i].Done = resp, err, true
		}
		r.mu.Unlock()
		return resp, err
	})
}

// Attempts returns every recorded attempt, in start order.
func (r *Recorder) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

// Requests returns every recorded attempt's request, in start order.
func (r *Recorder) Requests() []*transport.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*transport.Request, len(r.attempts))
	for i, a := range r.attempts {
		out[i] = a.Req
	}
	return out
}

// Filter returns the recorded requests m matches, in start order.
func (r *Recorder) Filter(m Match) []*transport.Request {
	var out []*transport.Request
	for _, req := range r.Requests() {
		if m == nil || m(req) {
			out = append(out, req)
		}
	}
	return out
}

// Len returns the number of recorded attempts.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts)
}

// Stores returns the store of each recorded attempt, in start order.
func (r *Recorder) Stores() []uint64 {
	reqs := r.Requests()
	out := make([]uint64, len(reqs))
	for i, req := range reqs {
		out[i] = req.Target.StoreID
	}
	return out
}

// Regions returns the region of each recorded attempt, in start order.
func (r *Recorder) Regions() []uint64 {
	reqs := r.Requests()
	out := make([]uint64, len(reqs))
	for i, req := range reqs {
		out[i] = req.Target.RegionID
	}
	return out
}

// Reset forgets every recorded attempt; attempts in flight finish
// unrecorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = nil
	r.epoch++
}
