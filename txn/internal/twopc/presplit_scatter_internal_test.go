package twopc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"

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
