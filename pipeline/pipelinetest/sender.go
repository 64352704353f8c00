package pipelinetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvgo/tikv/transport"
)

// Sender is a scripted TiKV, a transport.Sender for plans under test. Each
// attempt is answered by the first rule whose Match accepts it and that has
// answers left (Script, Always, in the order they were added); an attempt
// no rule takes is served by the cluster:
//
//  1. a store marked down fails the send with an error wrapping
//     transport.ErrNotSent (a dial to a dead store);
//  2. TiKV's region and peer checks against the true layout answer
//     StoreNotMatch, RegionNotFound, MismatchPeerId, NotLeader (naming the
//     true leader) or EpochNotMatch (with the current regions), so stale
//     routing is exercised;
//  3. the Handler serves the command (by default the cluster's RawKV).
//
// A Sender is safe for concurrent use; answers run with no lock held, so
// an answer may block (to hold an attempt in flight) or call next.
type Sender struct {
	cluster *Cluster
	handler Handler

	mu    sync.Mutex
	rules []*rule
}

// SenderOption configures NewSender.
type SenderOption func(*Sender)

// WithHandler replaces the default Handler (the cluster's RawKV), for
// commands RawKV does not serve.
func WithHandler(h Handler) SenderOption {
	return func(s *Sender) { s.handler = h }
}

// NewSender returns a Sender serving c.
func NewSender(c *Cluster, opts ...SenderOption) *Sender {
	s := &Sender{cluster: c, handler: c.KV().Serve}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Match selects the attempts a rule answers. A nil Match accepts every
// attempt. Matches run with the Sender's lock held, so they must not call
// the Sender; they may read the request and the Cluster.
type Match func(req *transport.Request) bool

// ForCmd matches attempts of the command.
func ForCmd(cmd transport.Cmd) Match {
	return func(req *transport.Request) bool { return req.Cmd == cmd }
}

// ForRegion matches attempts addressed to the region.
func ForRegion(id uint64) Match {
	return func(req *transport.Request) bool { return req.Target.RegionID == id }
}

// ForStore matches attempts sent to the store.
func ForStore(id uint64) Match {
	return func(req *transport.Request) bool { return req.Target.StoreID == id }
}

// ForAttempt matches attempts whose Request.Attempt is n (0 for a
// request's first attempt).
func ForAttempt(n int) Match {
	return func(req *transport.Request) bool { return req.Attempt == n }
}

// And matches attempts every one of ms matches (nil entries match all).
func And(ms ...Match) Match {
	return func(req *transport.Request) bool {
		for _, m := range ms {
			if m != nil && !m(req) {
				return false
			}
		}
		return true
	}
}

// Answer answers one attempt. next is the cluster's own serving path
// (down-store check, region checks, Handler): an answer may call it to
// serve the attempt after all, for instance after a delay.
type Answer func(ctx context.Context, req *transport.Request, next transport.Sender) (*transport.Response, error)

// Reply answers with msg, which must be of the command's response type.
func Reply(msg transport.Message) Answer {
	return func(context.Context, *transport.Request, transport.Sender) (*transport.Response, error) {
		return &transport.Response{Msg: msg}, nil
	}
}

// RegionError answers with a response carrying the region error e, as
// TiKV rejects a request (see RegionErrorResponse).
func RegionError(e *errorpb.Error) Answer {
	return func(_ context.Context, req *transport.Request, _ transport.Sender) (*transport.Response, error) {
		return RegionErrorResponse(req.Cmd, e), nil
	}
}

// Fail fails the send with err. Wrap transport.ErrNotSent in err for a
// request that provably never left the client (see NotSent); any other
// error leaves the outcome unknown, as a connection reset does.
func Fail(err error) Answer {
	return func(context.Context, *transport.Request, transport.Sender) (*transport.Response, error) {
		return nil, err
	}
}

// NotSent fails the send with an error wrapping transport.ErrNotSent that
// names why.
func NotSent(why string) Answer {
	return Fail(fmt.Errorf("%w: %s", transport.ErrNotSent, why))
}

// Serve lets the cluster serve the attempt, as if no rule had matched.
func Serve() Answer {
	return func(ctx context.Context, req *transport.Request, next transport.Sender) (*transport.Response, error) {
		return next.Send(ctx, req)
	}
}

// rule is one scripted entry: its answers are used in order, once each,
// or a single answer forever.
type rule struct {
	match   Match
	answers []Answer
	always  bool
}

// Script adds a rule answering the next len(answers) attempts m matches,
// one answer each, in order; once they are used the rule no longer
// applies.
func (s *Sender) Script(m Match, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{match: m, answers: answers})
}

// Always adds a rule answering every attempt m matches with a.
func (s *Sender) Always(m Match, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{match: m, answers: []Answer{a}, always: true})
}

// Pending returns the number of scripted answers not used yet (Always
// rules not counted): zero once a test's script has played out.
func (s *Sender) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rules {
		if !r.always {
			n += len(r.answers)
		}
	}
	return n
}

// ClearScript removes every rule: from then on the cluster serves all
// attempts.
func (s *Sender) ClearScript() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Send answers one attempt: by the first rule that takes it, else by the
// cluster.
func (s *Sender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	if a := s.take(req); a != nil {
		return a(ctx, req, transport.SenderFunc(s.serve))
	}
	return s.serve(ctx, req)
}

// take returns the answer of the first rule that takes req, consuming it.
// Matches run under the lock, so they must not call back into s.
func (s *Sender) take(req *transport.Request) Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		if len(r.answers) == 0 || (r.match != nil && !r.match(req)) {
			continue
		}
		a := r.answers[0]
		if !r.always {
			r.answers = r.answers[1:]
			if len(r.answers) == 0 {
				s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
			}
		}
		return a
	}
	return nil
}

// serve is the cluster's own answer: the down-store check, TiKV's region
// checks, then the Handler.
func (s *Sender) serve(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	if s.cluster.StoreDown(req.Target.StoreID) {
		return nil, fmt.Errorf("%w: pipelinetest: store %d (%s) is down", transport.ErrNotSent, req.Target.StoreID, req.Target.Addr)
	}
	region, rerr := s.cluster.checkRegion(req)
	if rerr != nil {
		return RegionErrorResponse(req.Cmd, rerr), nil
	}
	return s.handler(ctx, req, region)
}
