package twopc

import (
	"context"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// execTally gathers what one commit learns from its attempts' answers
// (TiKV's exec details) and from its retries' sleeps, for CommitDetails.
// The attempts come from the committer's countingSender, the sleeps from
// the pipeline's backoff listener; both may report concurrently.
type execTally struct {
	mu                             sync.Mutex
	prewrite, commit               ExecDetails
	slowestPrewrite, commitPrimary RequestDetail
	// prewriteSlept and prewriteKinds are per prewrite piece (the
	// pipeline's piece number): client-go keeps the largest sleep of
	// one batch's backoffer.
	prewriteSlept map[int]time.Duration
	prewriteKinds map[int][]string
	commitSlept   time.Duration
	commitKinds   []string
}

// execDetailer is every response that carries TiKV's exec details.
type execDetailer interface {
	GetExecDetailsV2() *kvrpcpb.ExecDetailsV2
	GetRegionError() *errorpb.Error
}

// attempt records one answered attempt that took d. An answer with a
// region error is not the command's execution and is left out, as
// client-go merges only the answers past the region error check.
func (x *execTally) attempt(req *transport.Request, d time.Duration, resp *transport.Response) {
	if resp == nil {
		return
	}
	r, ok := resp.Msg.(execDetailer)
	if !ok || r.GetRegionError() != nil {
		return
	}
	pb := r.GetExecDetailsV2()
	x.mu.Lock()
	defer x.mu.Unlock()
	switch req.Cmd {
	case transport.CmdPrewrite:
		x.prewrite.MergePB(pb)
		keepSlowest(&x.slowestPrewrite, req, d, pb)
	case transport.CmdCommit:
		// Only the primary's commit runs under the Commit call's context;
		// the secondaries' run on the Group and are not counted.
		x.commit.MergePB(pb)
		keepSlowest(&x.commitPrimary, req, d, pb)
	}
}

func keepSlowest(slowest *RequestDetail, req *transport.Request, d time.Duration, pb *kvrpcpb.ExecDetailsV2) {
	if d <= slowest.Duration {
		return
	}
	*slowest = RequestDetail{Duration: d, RegionID: req.Target.RegionID, StoreID: req.Target.StoreID, StoreAddr: req.Target.Addr}
	slowest.Exec.MergePB(pb)
}

// onPrewriteBackoff is the prewrite's backoff listener.
func (x *execTally) onPrewriteBackoff(e observe.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.prewriteSlept == nil {
		x.prewriteSlept, x.prewriteKinds = map[int]time.Duration{}, map[int][]string{}
	}
	x.prewriteSlept[e.Piece] += e.Sleep
	x.prewriteKinds[e.Piece] = append(x.prewriteKinds[e.Piece], e.Backoff)
}

// onCommitBackoff is the primary commit's backoff listener.
func (x *execTally) onCommitBackoff(e observe.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.commitSlept += e.Sleep
	x.commitKinds = append(x.commitKinds, e.Backoff)
}

// fill copies the tally into d.
func (x *execTally) fill(d *CommitDetails) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d.PrewriteExec, d.CommitExec = x.prewrite, x.commit
	d.SlowestPrewrite, d.CommitPrimaryRequest = x.slowestPrewrite, x.commitPrimary
	best := -1
	for piece, slept := range x.prewriteSlept {
		if slept > d.PrewriteBackoff || (slept == d.PrewriteBackoff && (best < 0 || piece < best)) {
			d.PrewriteBackoff, best = slept, piece
		}
	}
	if best >= 0 {
		d.PrewriteBackoffKinds = append([]string(nil), x.prewriteKinds[best]...)
	}
	d.CommitBackoff = x.commitSlept
	d.CommitBackoffKinds = append([]string(nil), x.commitKinds...)
}

// prewriteContext is the context of the transaction's prewrite: the
// Commit call's, its sleeps reported to the tally.
func (t *txn) prewriteContext() context.Context {
	return pipeline.WithBackoffListener(t.ctx, t.rpcs.exec.onPrewriteBackoff)
}

// commitContext is the context of the primary's commit: the Commit call's
// without its kill flag, its sleeps reported to the tally. Once the
// prewrite is done the transaction is committed or rolled back, and
// finishing the commit is what leaves no locks for others to resolve, so
// a raised kill flag does not stop it (client-go sends Commit whatever the
// flag says, but its Backoffer checks the flag after each sleep even
// during the commit; here the commit's retries are not interrupted
// either).
func (t *txn) commitContext() context.Context {
	v := pipeline.VariablesFrom(t.ctx)
	v.Killed = nil
	return pipeline.WithBackoffListener(pipeline.WithVariables(t.ctx, v), t.rpcs.exec.onCommitBackoff)
}
