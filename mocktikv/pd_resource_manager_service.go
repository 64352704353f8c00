package mocktikv

import (
	"context"
	"errors"
	"io"
	"time"

	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
)

// pdResourceManager is the resource manager's gRPC service as PD serves
// it (pkg/mcs/resourcemanager/server/grpc_service.go). Like PD's, its
// handlers return errors as plain gRPC errors carrying PD's error text,
// which the client wraps. Scripted PD faults (FailPD, DelayPD) apply
// under the RPC names.
type pdResourceManager struct {
	rmpb.UnimplementedResourceManagerServer
	c *Cluster
}

// serve applies the scripted fault of method around answer.
func (s *pdResourceManager) serve(ctx context.Context, method string, answer func() error) error {
	if err := s.c.pdFaults.failure(method); err != nil {
		return err
	}
	if err := answer(); err != nil {
		return err
	}
	return s.c.pdFaults.delay(ctx, method)
}

// GetResourceGroup returns one group; an unknown one is
// ErrResourceGroupNotExists.
func (s *pdResourceManager) GetResourceGroup(ctx context.Context, req *rmpb.GetResourceGroupRequest) (*rmpb.GetResourceGroupResponse, error) {
	var resp *rmpb.GetResourceGroupResponse
	err := s.serve(ctx, "GetResourceGroup", func() error {
		g := s.c.rm.get(req.GetResourceGroupName(), req.GetWithRuStats())
		if g == nil {
			return errors.New(rmGroupNotExists(req.GetResourceGroupName()))
		}
		g.KeyspaceId = req.GetKeyspaceId()
		resp = &rmpb.GetResourceGroupResponse{Group: g}
		return nil
	})
	return resp, err
}

// ListResourceGroups returns every group, the default one included.
func (s *pdResourceManager) ListResourceGroups(ctx context.Context, req *rmpb.ListResourceGroupsRequest) (*rmpb.ListResourceGroupsResponse, error) {
	var resp *rmpb.ListResourceGroupsResponse
	err := s.serve(ctx, "ListResourceGroups", func() error {
		resp = &rmpb.ListResourceGroupsResponse{Groups: s.c.rm.list(req.GetWithRuStats())}
		return nil
	})
	return resp, err
}

// AddResourceGroup creates (or replaces) a group.
func (s *pdResourceManager) AddResourceGroup(ctx context.Context, req *rmpb.PutResourceGroupRequest) (*rmpb.PutResourceGroupResponse, error) {
	return s.put(ctx, "AddResourceGroup", func() error { return s.c.rm.add(req.GetGroup()) })
}

// ModifyResourceGroup changes an existing group's settings.
func (s *pdResourceManager) ModifyResourceGroup(ctx context.Context, req *rmpb.PutResourceGroupRequest) (*rmpb.PutResourceGroupResponse, error) {
	return s.put(ctx, "ModifyResourceGroup", func() error { return s.c.rm.modify(req.GetGroup()) })
}

func (s *pdResourceManager) put(ctx context.Context, method string, apply func() error) (*rmpb.PutResourceGroupResponse, error) {
	if err := s.serve(ctx, method, apply); err != nil {
		return nil, err
	}
	return &rmpb.PutResourceGroupResponse{Body: "Success!"}, nil
}

// DeleteResourceGroup deletes a group other than the default one.
func (s *pdResourceManager) DeleteResourceGroup(ctx context.Context, req *rmpb.DeleteResourceGroupRequest) (*rmpb.DeleteResourceGroupResponse, error) {
	if err := s.serve(ctx, "DeleteResourceGroup", func() error { return s.c.rm.remove(req.GetResourceGroupName()) }); err != nil {
		return nil, err
	}
	return &rmpb.DeleteResourceGroupResponse{Body: "Success!"}, nil
}

// AcquireTokenBuckets answers each TokenBucketsRequest on the stream with
// the grants of rmState.acquire, until the client closes the stream. A
// scripted failure of "AcquireTokenBuckets" ends the stream with its error.
func (s *pdResourceManager) AcquireTokenBuckets(stream rmpb.ResourceManager_AcquireTokenBucketsServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var resps []*rmpb.TokenBucketResponse
		err = s.serve(stream.Context(), "AcquireTokenBuckets", func() error {
			resps = s.c.rm.acquire(time.Now(), req)
			return nil
		})
		if err != nil {
			return err
		}
		if err := stream.Send(&rmpb.TokenBucketsResponse{Responses: resps}); err != nil {
			return err
		}
	}
}
