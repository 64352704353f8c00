package pdclient

import (
	"context"
	"errors"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
)

// errFakeNoScatter: the region-cache fake does not scatter; nothing in
// these tests asks it to.
var errFakeNoScatter = errors.New("pdclient fake: no scatter")

func (f *fakePD) ScatterRegions(context.Context, []uint64, ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	return nil, errFakeNoScatter
}

func (f *fakePD) GetOperator(context.Context, uint64) (*pdpb.GetOperatorResponse, error) {
	return nil, errFakeNoScatter
}
