// Package admin administers a TiKV cluster from a client, without TiDB:
// split and scatter regions and wait for the scatter, query regions and
// stores, and destroy a key range on every store (client-go's KVStore
// SplitRegions, WaitScatterRegionFinish, UnsafeDestroyRange and
// RegionCache / PD queries).
package admin

import (
	"context"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
)

// Backend is what a Client runs on: a cluster connection. *tikv.Cluster
// implements it.
type Backend interface {
	EnvFor(mode kv.KeyMode) *pipeline.Env
	PD() pdclient.PD
}

// Client is the administration client. It is safe for concurrent use and
// owns no goroutine.
type Client struct {
	env  *pipeline.Env
	pd   pdclient.PD
	mode kv.KeyMode
}

// Option configures a Client.
type Option func(*Client)

// WithKeyMode makes the client work in the raw key space (kv.ModeRaw):
// keys and region boundaries are then raw keys. The default is the
// transactional key space (kv.ModeTxn), whose keys TiKV
// memcomparable-encodes.
func WithKeyMode(m kv.KeyMode) Option { return func(c *Client) { c.mode = m } }

// New returns an administration client on b's cluster connection.
func New(b Backend, opts ...Option) *Client {
	c := &Client{pd: b.PD(), mode: kv.ModeTxn}
	for _, o := range opts {
		o(c)
	}
	c.env = b.EnvFor(c.mode)
	return c
}

// RegionByKey returns the region holding key (client-go's
// RegionCache.LocateKey), from the client's region cache or PD.
func (c *Client) RegionByKey(ctx context.Context, key []byte) (*pdclient.Region, error) {
	return c.env.Locator.Locate(ctx, key)
}

// RegionByID returns the region with the id (client-go's
// RegionCache.LocateRegionByID).
func (c *Client) RegionByID(ctx context.Context, id uint64) (*pdclient.Region, error) {
	return c.env.Locator.LocateByID(ctx, id)
}

// Regions returns, in key order, the regions covering [start, end) (end
// empty: to the end of the key space), at most limit of them when limit
// > 0 (client-go's RegionCache.LoadRegionsInKeyRange).
func (c *Client) Regions(ctx context.Context, start, end []byte, limit int) ([]*pdclient.Region, error) {
	return c.env.Locator.LoadRange(ctx, start, end, limit)
}

// Stores lists the cluster's stores that are not removed, in id order,
// with their addresses, states and labels, as PD reports them now
// (client-go's PD GetAllStores).
func (c *Client) Stores(ctx context.Context) ([]*pdclient.Store, error) {
	return c.env.Locator.Stores(ctx)
}

// Store returns one store's metadata, labels included.
func (c *Client) Store(ctx context.Context, id uint64) (*pdclient.Store, error) {
	return c.env.Locator.Store(ctx, id)
}
