package twopc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// scriptedOperators answers GetOperator from a script, repeating its last
// entry, and counts the calls.
type scriptedOperators struct {
	mu     sync.Mutex
	script []*pdpb.GetOperatorResponse
	calls  int
}

func (s *scriptedOperators) GetOperator(context.Context, uint64) (*pdpb.GetOperatorResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.script[min(s.calls, len(s.script)-1)]
	s.calls++
	return r, nil
}

func operator(desc string, st pdpb.OperatorStatus) *pdpb.GetOperatorResponse {
	return &pdpb.GetOperatorResponse{Header: &pdpb.ResponseHeader{}, Desc: []byte(desc), Status: st}
}

// The wait polls while PD runs a scatter and ends when the operator is no
// longer a running scatter, whatever its end (client-go's
// WaitScatterRegionFinish).
func TestWaitScatterPollsUntilNotRunning(t *testing.T) {
	running := operator("scatter-region", pdpb.OperatorStatus_RUNNING)
	for _, end := range []*pdpb.GetOperatorResponse{
		operator("scatter-region", pdpb.OperatorStatus_SUCCESS),
		operator("scatter-region", pdpb.OperatorStatus_TIMEOUT),
		operator("scatter-region", pdpb.OperatorStatus_CANCEL),
		operator("scatter-region", pdpb.OperatorStatus_REPLACE),
		operator("balance-leader", pdpb.OperatorStatus_RUNNING),
		{Header: &pdpb.ResponseHeader{Error: &pdpb.Error{Type: pdpb.ErrorType_REGION_NOT_FOUND}}},
	} {
		pd := &scriptedOperators{script: []*pdpb.GetOperatorResponse{running, running, end}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := waitScatter(ctx, pd, 7)
		cancel()
		if err != nil || pd.calls != 3 {
			t.Fatalf("end %q %v: err %v after %d calls, want nil after 3", end.Desc, end.Status, err, pd.calls)
		}
	}
}

// A scatter that keeps running ends the wait at ctx's deadline with an
// error naming the region.
func TestWaitScatterTimesOut(t *testing.T) {
	pd := &scriptedOperators{script: []*pdpb.GetOperatorResponse{operator("scatter-region", pdpb.OperatorStatus_RUNNING)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := waitScatter(ctx, pd, 7)
	if !errors.Is(err, context.DeadlineExceeded) || pd.calls < 2 {
		t.Fatalf("err %v after %d calls, want a deadline after polling", err, pd.calls)
	}
}

// Of a split into n regions, the first n-1 are new (client-go scatters
// regions[:n-1]); a region that did not split has none.
func TestNewRegionIDs(t *testing.T) {
	rs := []*metapb.Region{{Id: 4}, {Id: 5}, {Id: 1}}
	if got := newRegionIDs(rs); len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("newRegionIDs = %v", got)
	}
	if got := newRegionIDs(rs[:1]); got != nil {
		t.Fatalf("unsplit region: %v", got)
	}
}

// refusingPD is a PD that reports every region in failed_regions_id and
// has no operators; nothing else of it is used.
type refusingPD struct {
	pdclient.PD
	scattered []uint64
}

func (p *refusingPD) ScatterRegions(_ context.Context, ids []uint64, _ ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	p.scattered = append(p.scattered, ids...)
	return &pdpb.ScatterRegionResponse{Header: &pdpb.ResponseHeader{}, FailedRegionsId: ids}, nil
}

// A region PD lists as failed is not waited for and is reported as a
// *ScatterFailedError (the first one); the others are still asked.
func TestScatterReportsFailedRegions(t *testing.T) {
	pd := &refusingPD{}
	c := &Committer{pd: pd, opts: Options{ScatterWait: time.Second}}
	var d CommitDetails
	c.scatter(context.Background(), 1, []uint64{4, 5}, &d)
	var fe *ScatterFailedError
	if !errors.As(d.ScatterErr, &fe) || fe.RegionID != 4 || d.ScatteredRegions != 0 || len(pd.scattered) != 2 {
		t.Fatalf("err %v, scattered %d, asked %v", d.ScatterErr, d.ScatteredRegions, pd.scattered)
	}
}

// flakyScatterPD fails the first failures ScatterRegions calls, then
// accepts every region; it records the regions asked and when.
type flakyScatterPD struct {
	pdclient.PD
	mu       sync.Mutex
	failures int
	asked    []uint64
	at       []time.Time
}

func (p *flakyScatterPD) ScatterRegions(_ context.Context, ids []uint64, _ ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, ids...)
	p.at = append(p.at, time.Now())
	if p.failures != 0 {
		p.failures--
		return nil, errors.New("PD unavailable")
	}
	return &pdpb.ScatterRegionResponse{Header: &pdpb.ResponseHeader{}}, nil
}

// A failed ScatterRegions call is sent again after PD backoff (client-go's
// scatterRegion retries with BoPDRPC: 500 ms base, equal jitter), so
// transient PD failures do not leave the regions unscattered.
func TestScatterRetriesFailedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &flakyScatterPD{failures: 2}
		c := &Committer{pd: pd, opts: Options{ScatterWait: -1}.withDefaults()}
		var d CommitDetails
		c.scatter(context.Background(), 1, []uint64{4, 5}, &d)
		if d.ScatterErr != nil || d.ScatteredRegions != 2 {
			t.Fatalf("err %v, scattered %d; want both regions scattered", d.ScatterErr, d.ScatteredRegions)
		}
		if want := []uint64{4, 4, 4, 5}; !slices.Equal(pd.asked, want) {
			t.Fatalf("asked %v, want %v", pd.asked, want)
		}
		// Equal jitter: the n-th wait is in [base·2^n/2, base·2^n).
		for i, bounds := range [][2]time.Duration{{250 * time.Millisecond, 500 * time.Millisecond}, {500 * time.Millisecond, time.Second}} {
			if gap := pd.at[i+1].Sub(pd.at[i]); gap < bounds[0] || gap >= bounds[1] {
				t.Fatalf("wait %d lasted %v, want within %v", i, gap, bounds)
			}
		}
	})
}

// Retries share ScatterRetryBudget: once a wait would pass it, the
// failure (a *kv.BackoffExhaustedError with PD's error as the cause) is
// in ScatterErr and the regions after it are not asked, as client-go
// stops scattering at a PD timeout. A negative budget asks every region
// once.
func TestScatterRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &flakyScatterPD{failures: -1}
		c := &Committer{pd: pd, opts: Options{ScatterWait: -1, ScatterRetryBudget: 2 * time.Second}.withDefaults()}
		var d CommitDetails
		began := time.Now()
		c.scatter(context.Background(), 1, []uint64{4, 5}, &d)
		var exhausted *kv.BackoffExhaustedError
		if !errors.As(d.ScatterErr, &exhausted) || exhausted.Policy != "pdRPC" || d.ScatteredRegions != 0 {
			t.Fatalf("err %v, scattered %d; want the pdRPC backoff exhausted", d.ScatterErr, d.ScatteredRegions)
		}
		if slept := time.Since(began); slept > 2*time.Second {
			t.Fatalf("retried for %v, past the 2 s budget", slept)
		}
		if len(pd.asked) < 2 || slices.Contains(pd.asked, 5) {
			t.Fatalf("asked %v: want region 4 retried and region 5 never asked", pd.asked)
		}

		once := &flakyScatterPD{failures: -1}
		c = &Committer{pd: once, opts: Options{ScatterWait: -1, ScatterRetryBudget: -1}.withDefaults()}
		d = CommitDetails{}
		c.scatter(context.Background(), 1, []uint64{4, 5}, &d)
		if d.ScatterErr == nil || !slices.Equal(once.asked, []uint64{4, 5}) {
			t.Fatalf("no-retry scatter: err %v, asked %v; want one call per region", d.ScatterErr, once.asked)
		}
	})
}
