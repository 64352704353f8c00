package tikv_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/apipb"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// TestPortParsePath ports client-go's TestParsePath (config/config_test.go):
// a tikv:// path yields its PD endpoints, its disableGC flag (false when
// absent) and its keyspace name; Options turns the keyspace into
// WithKeyspace. The error cases are tikvgo's (client-go returns the same
// errors untyped, and accepts an empty endpoint list).
func TestPortParsePath(t *testing.T) {
	p, err := tikv.ParsePath("tikv://node1:2379,node2:2379")
	if err != nil || !slices.Equal(p.PDAddrs, []string{"node1:2379", "node2:2379"}) || p.DisableGC || p.KeyspaceName != "" {
		t.Fatalf("two nodes: %+v, %v", p, err)
	}
	if len(p.Options()) != 0 {
		t.Fatal("a path without keyspace asks for options")
	}
	if p, err := tikv.ParsePath("tikv://node1:2379"); err != nil || !slices.Equal(p.PDAddrs, []string{"node1:2379"}) {
		t.Fatalf("one node: %+v, %v", p, err)
	}
	p, err = tikv.ParsePath("tikv://node1:2379?disableGC=true&keyspaceName=DEFAULT")
	if err != nil || !p.DisableGC || p.KeyspaceName != "DEFAULT" {
		t.Fatalf("flags: %+v, %v", p, err)
	}
	if p, err := tikv.ParsePath("TiKV://node1:2379?disableGC=FALSE&cluster=1"); err != nil || p.DisableGC {
		t.Fatalf("case-insensitive scheme and flag: %+v, %v", p, err)
	}
	for _, bad := range []string{
		"http://node1:2379",               // another scheme
		"node1:2379",                      // no scheme
		"tikv://",                         // no endpoint
		"tikv://node1:2379,,node2:2379",   // an empty endpoint
		"tikv://node1:2379?disableGC=yes", // not a boolean
		"tikv://node1:2379/%zz",           // does not parse
	} {
		if _, err := tikv.ParsePath(bad); !errors.Is(err, kv.ErrInvalidArgument) {
			t.Errorf("ParsePath(%q) = %v, want kv.ErrInvalidArgument", bad, err)
		}
	}

	// The keyspace the path names is the one Connect works in.
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	defer mock.Close()
	connect := func(path string) error {
		p, err := tikv.ParsePath(path)
		if err != nil {
			return err
		}
		c, err := tikv.Connect(context.Background(), p.PDAddrs,
			append(p.Options(), tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))...)
		if err == nil {
			err = c.Close()
		}
		return err
	}
	if err := connect("tikv://pd?keyspaceName=DEFAULT"); err != nil {
		t.Fatalf("DEFAULT keyspace: %v", err)
	}
	if err := connect("tikv://pd?keyspaceName=nope"); !errors.Is(err, kv.ErrKeyspaceNotFound) {
		t.Fatalf("unknown keyspace: %v", err)
	}
}

// TestPortValidateGRPCKeepAliveTimeout ports client-go's
// TestValidateGRPCKeepAliveTimeout (config/config_test.go): the default
// keepalive timeout (3 s) and 50 ms are valid, 40 ms is not. In tikvgo the
// setting is transport.WithKeepalive, checked by
// transport.ValidatePoolOptions, and Connect refuses it before it dials.
func TestPortValidateGRPCKeepAliveTimeout(t *testing.T) {
	if transport.DefaultKeepaliveTimeout != 3*time.Second {
		t.Fatalf("default keepalive timeout %v, client-go's is 3s", transport.DefaultKeepaliveTimeout)
	}
	if err := transport.ValidatePoolOptions(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if err := transport.ValidatePoolOptions(transport.WithKeepalive(0, 50*time.Millisecond)); err != nil {
		t.Fatalf("50ms: %v", err)
	}
	if err := transport.ValidatePoolOptions(transport.WithKeepalive(0, 40*time.Millisecond)); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("40ms: %v", err)
	}
	// A later option wins, as in NewPool.
	if err := transport.ValidatePoolOptions(transport.WithKeepalive(0, 40*time.Millisecond), transport.WithKeepalive(0, time.Second)); err != nil {
		t.Fatalf("40ms then 1s: %v", err)
	}
	start := time.Now()
	_, err := tikv.Connect(context.Background(), []string{deadPD},
		tikv.WithPoolOptions(transport.WithKeepalive(0, 40*time.Millisecond)))
	if !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("Connect with a 40ms keepalive timeout: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Connect took %v: it dialled before checking", d)
	}
}

// identityPD is mocktikv's PD whose LoadKeyspace answers an API v3
// keyspace identity, as a PD serving API v3 does.
type identityPD struct{ pdclient.PD }

func (identityPD) LoadKeyspace(context.Context, string) (*keyspacepb.KeyspaceMeta, error) {
	return &keyspacepb.KeyspaceMeta{Name: "foo", State: keyspacepb.KeyspaceState_ENABLED, Keyspace: &keyspacepb.KeyspaceMeta_KeyspaceIdentity{
		KeyspaceIdentity: &apipb.KeyspaceIdentity{NamespaceId: 1, KeyspaceId: 2},
	}}, nil
}

// TestPortKeyspaceV3IdentityRefusedAtConnect is the end-to-end side of
// client-go's TestGetKeyspaceIDRejectsV3Identity
// (internal/locate/pd_codec_test.go; pdclient's
// TestPortGetKeyspaceIDRejectsV3Identity ports it at the lookup): Connect
// in a keyspace PD identifies the API v3 way fails with
// kv.ErrAPIVersionMismatch instead of working in keyspace 0.
func TestPortKeyspaceV3IdentityRefusedAtConnect(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	defer mock.Close()
	c, err := tikv.Connect(context.Background(), nil, tikv.WithPD(identityPD{mock.PD()}),
		tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("foo"))
	if !errors.Is(err, kv.ErrAPIVersionMismatch) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Connect: %v, want kv.ErrAPIVersionMismatch", err)
	}
}

// TestRegionCacheOptionsReachTheCaches: WithRegionCacheOptions is how
// client-go's TiKVClient.RegionCacheTTL is set. With a TTL of a
// millisecond, a region looked up again after it expired is loaded from
// PD again (no cache hit); with the default TTL it is a hit.
func TestRegionCacheOptionsReachTheCaches(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	for _, tc := range []struct {
		name    string
		opts    []pdclient.CacheOption
		wantHit bool
	}{
		{"default TTL", nil, true},
		{"1ms TTL", []pdclient.CacheOption{pdclient.WithCacheTTL(time.Millisecond), pdclient.WithCacheTTLJitter(0)}, false},
	} {
		c, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
			tikv.WithRegionCacheOptions(tc.opts...))
		if err != nil {
			t.Fatal(err)
		}
		cache := c.RegionCacheFor(kv.ModeRaw)
		if _, err := cache.Locate(context.Background(), []byte("k")); err != nil {
			t.Fatal(err)
		}
		before := cache.Hits()
		time.Sleep(20 * time.Millisecond) // past the short TTL; nowhere near the default
		if _, err := cache.Locate(context.Background(), []byte("k")); err != nil {
			t.Fatal(err)
		}
		if hit := cache.Hits() > before; hit != tc.wantHit {
			t.Errorf("%s: second lookup hit the cache: %v, want %v", tc.name, hit, tc.wantHit)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
