package pipelinetest

import (
	"context"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
)

// ScatterRegions counts the call and reports every region scattered: the
// test PD moves no peers, so there is nothing to do.
func (p *PD) ScatterRegions(_ context.Context, regionIDs []uint64, _ ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	_ = p.call("ScatterRegions", false)
	return &pdpb.ScatterRegionResponse{Header: &pdpb.ResponseHeader{}, FinishedPercentage: 100}, nil
}

// GetOperator counts the call and answers as PD does for a region with no
// operator record: REGION_NOT_FOUND in the header.
func (p *PD) GetOperator(_ context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error) {
	_ = p.call("GetOperator", false)
	return &pdpb.GetOperatorResponse{Header: &pdpb.ResponseHeader{
		Error: &pdpb.Error{Type: pdpb.ErrorType_REGION_NOT_FOUND, Message: "Not Found"}}}, nil
}
