package mocktikv

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	pd "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/metastorage"
	pderrs "github.com/tikv/pd/client/errs"
	"github.com/tikv/pd/client/opt"
)

// The in-process PD is also a resource manager client: it has the methods
// of pd.ResourceManagerClient and of the meta storage client that
// github.com/tikv/pd/client/resource_group/controller's
// ResourceGroupProvider needs, answering from the same state as the gRPC
// service (pd_resource_manager_service.go), with the errors the real
// client returns for the gRPC answers.

// errMetaPutUnsupported refuses in-process meta storage writes: only the
// resource manager's own calls change its keys.
var errMetaPutUnsupported = errors.New("mocktikv: the in-process PD's meta storage is read-only")

// GetResourceGroup returns one resource group (with its RU consumption
// under pd.WithRUStats). An unknown group fails as the real client reports
// PD's ErrResourceGroupNotExists: an *errs.ErrClientGetResourceGroup.
func (p localPD) GetResourceGroup(ctx context.Context, name string, opts ...pd.GetResourceGroupOption) (*rmpb.ResourceGroup, error) {
	var out *rmpb.ResourceGroup
	err := p.call(ctx, "GetResourceGroup", func() error {
		out = p.c.rm.get(name, withRUStats(opts))
		if out == nil {
			return &pderrs.ErrClientGetResourceGroup{ResourceGroupName: name, Cause: rmGroupNotExists(name)}
		}
		return nil
	})
	return out, err
}

// withRUStats reports whether pd.WithRUStats is among opts.
func withRUStats(opts []pd.GetResourceGroupOption) bool {
	op := &pd.GetResourceGroupOp{}
	for _, o := range opts {
		o(op)
	}
	// GetResourceGroupOp keeps its flag unexported: compare with a set one.
	set := &pd.GetResourceGroupOp{}
	pd.WithRUStats(set)
	return *op == *set
}

// ListResourceGroups returns every resource group.
func (p localPD) ListResourceGroups(ctx context.Context, opts ...pd.GetResourceGroupOption) ([]*rmpb.ResourceGroup, error) {
	var out []*rmpb.ResourceGroup
	err := p.call(ctx, "ListResourceGroups", func() error {
		out = p.c.rm.list(withRUStats(opts))
		return nil
	})
	return out, err
}

// AddResourceGroup creates (or replaces) a resource group.
func (p localPD) AddResourceGroup(ctx context.Context, g *rmpb.ResourceGroup) (string, error) {
	return p.putGroup(ctx, "AddResourceGroup", func() error { return p.c.rm.add(g) })
}

// ModifyResourceGroup changes an existing resource group.
func (p localPD) ModifyResourceGroup(ctx context.Context, g *rmpb.ResourceGroup) (string, error) {
	return p.putGroup(ctx, "ModifyResourceGroup", func() error { return p.c.rm.modify(g) })
}

// DeleteResourceGroup deletes a resource group other than "default".
func (p localPD) DeleteResourceGroup(ctx context.Context, name string) (string, error) {
	return p.putGroup(ctx, "DeleteResourceGroup", func() error { return p.c.rm.remove(name) })
}

// putGroup runs a write; like the real client, it prefixes PD's error text.
func (p localPD) putGroup(ctx context.Context, method string, apply func() error) (string, error) {
	err := p.call(ctx, method, apply)
	if err != nil {
		return "", errors.New("[resource_manager] " + err.Error())
	}
	return "Success!", nil
}

// LoadResourceGroups reads every group's settings from the meta storage,
// with its revision, as the real client does.
func (p localPD) LoadResourceGroups(ctx context.Context) ([]*rmpb.ResourceGroup, int64, error) {
	resp, err := p.Get(ctx, []byte(rmSettingsPrefix), opt.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	groups := make([]*rmpb.ResourceGroup, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		g := &rmpb.ResourceGroup{}
		if err := g.Unmarshal(kv.Value); err == nil {
			groups = append(groups, g)
		}
	}
	return groups, resp.GetHeader().GetRevision(), nil
}

// AcquireTokenBuckets reports consumption and asks for RU, as one round of
// the real client's AcquireTokenBuckets stream.
func (p localPD) AcquireTokenBuckets(ctx context.Context, req *rmpb.TokenBucketsRequest) ([]*rmpb.TokenBucketResponse, error) {
	var out []*rmpb.TokenBucketResponse
	err := p.call(ctx, "AcquireTokenBuckets", func() error {
		out = p.c.rm.acquire(time.Now(), req)
		return nil
	})
	return out, err
}

// Get reads the meta storage: the resource manager's keys, none elsewhere.
func (p localPD) Get(ctx context.Context, key []byte, opts ...opt.MetaStorageOption) (*meta_storagepb.GetResponse, error) {
	op := metaOp(key, opts)
	resp := &meta_storagepb.GetResponse{Header: &meta_storagepb.ResponseHeader{ClusterId: p.c.clusterID}}
	err := p.call(ctx, "Get", func() error {
		if isRMKey(key) {
			resp.Kvs, resp.Header.Revision = p.c.rm.metaRange(key, op.RangeEnd)
			resp.Count = int64(len(resp.Kvs))
		}
		return nil
	})
	return resp, err
}

// Put refuses: the in-process meta storage is read-only.
func (localPD) Put(context.Context, []byte, []byte, ...opt.MetaStorageOption) (*meta_storagepb.PutResponse, error) {
	return nil, errMetaPutUnsupported
}

// Watch delivers the changes of the resource manager's keys in the watched
// range until ctx ends, when the channel is closed (the real client's
// channel closes with its stream too). It starts no goroutine.
func (p localPD) Watch(ctx context.Context, key []byte, opts ...opt.MetaStorageOption) (chan *metastorage.WatchResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op := metaOp(key, opts)
	ch := make(chan *metastorage.WatchResponse, rmWatchBuffer)
	w := &rmWatcher{key: key, end: op.RangeEnd, prevKV: op.PrevKv, deliver: func(ev *meta_storagepb.Event) {
		select {
		case ch <- &metastorage.WatchResponse{Events: []*meta_storagepb.Event{ev}}:
		default:
		}
	}}
	p.c.rm.watch(w)
	context.AfterFunc(ctx, func() { p.c.rm.unwatch(w, func() { close(ch) }) })
	return ch, nil
}

// metaOp applies meta storage options as the real client does (a prefix
// becomes its range end).
func metaOp(key []byte, opts []opt.MetaStorageOption) *opt.MetaStorageOp {
	op := &opt.MetaStorageOp{}
	for _, o := range opts {
		o(op)
	}
	if op.IsOptsWithPrefix {
		op.RangeEnd = prefixEnd(key)
	}
	return op
}
