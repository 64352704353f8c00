package tikv_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// checkOneLine fails the test if err's message spans lines or names its
// sentinel more than once.
func checkOneLine(t *testing.T, err error, sentinel error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") || strings.Count(msg, sentinel.Error()) != 1 {
		t.Fatalf("%q: want one line naming %q once", msg, sentinel)
	}
}

// Connect over gRPC to a keyspace PD does not know fails with
// kv.ErrKeyspaceNotFound (PD answers LoadKeyspace with ENTRY_NOT_FOUND),
// naming the keyspace; a keyspace PD knows connects.
func TestConnectUnknownKeyspaceOverGRPC(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("known"))
	_, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithKeyspace("nope"))
	t.Logf("error: %v", err)
	if !errors.Is(err, kv.ErrKeyspaceNotFound) {
		t.Fatalf("Connect to keyspace nope = %v, want kv.ErrKeyspaceNotFound", err)
	}
	checkOneLine(t, err, kv.ErrKeyspaceNotFound)
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("%q does not name the keyspace", err)
	}
	c, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithKeyspace("known"))
	if err != nil {
		t.Fatalf("Connect to a known keyspace: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Connect over gRPC finds an API version the cluster's storage does not
// serve, from a store's /config, and fails with a
// *kv.APIVersionMismatchError; matching versions connect.
func TestConnectAPIVersionMismatchOverGRPC(t *testing.T) {
	v1 := mocktikv.Start(t)
	v1ttl := mocktikv.Start(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL))
	v2 := mocktikv.Start(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	for _, tc := range []struct {
		name     string
		mock     *mocktikv.Cluster
		opts     []tikv.Option
		mismatch kvrpcpb.APIVersion // the storage version reported; -1 when Connect succeeds
	}{
		{"v2 client, v1 storage", v1, []tikv.Option{tikv.WithAPIVersion(kvrpcpb.APIVersion_V2)}, kvrpcpb.APIVersion_V1},
		{"keyspace, v1ttl storage", v1ttl, []tikv.Option{tikv.WithKeyspace(tikv.DefaultKeyspaceName)}, kvrpcpb.APIVersion_V1TTL},
		{"v1 client, v2 storage", v2, nil, kvrpcpb.APIVersion_V2},
		{"v1 client, v1 storage", v1, nil, -1},
		{"v1 client, v1ttl storage", v1ttl, nil, -1},
		{"v2 client, v2 storage", v2, []tikv.Option{tikv.WithAPIVersion(kvrpcpb.APIVersion_V2)}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tikv.Connect(t.Context(), tc.mock.PDAddrs(), tc.opts...)
			if tc.mismatch < 0 {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Logf("error: %v", err)
			var me *kv.APIVersionMismatchError
			if !errors.Is(err, kv.ErrAPIVersionMismatch) || !errors.As(err, &me) {
				t.Fatalf("Connect = %v, want a *kv.APIVersionMismatchError", err)
			}
			if me.Storage != tc.mismatch || me.StoreID != tc.mock.StoreIDs()[0] {
				t.Fatalf("mismatch reports storage %s of store %d, want %s of store %d", me.Storage, me.StoreID, tc.mismatch, tc.mock.StoreIDs()[0])
			}
			checkOneLine(t, err, kv.ErrAPIVersionMismatch)
		})
	}
}

// The in-process mock fails an unknown keyspace the way the gRPC path does.
func TestConnectUnknownKeyspaceInProcess(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("known"))
	defer mock.Close()
	_, err := tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("nope"))
	if !errors.Is(err, kv.ErrKeyspaceNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Connect to keyspace nope in-process = %v, want kv.ErrKeyspaceNotFound naming it", err)
	}
	checkOneLine(t, err, kv.ErrKeyspaceNotFound)
}

// A mismatch Connect cannot see (in-process: no store status address to
// ask) is still typed at the first request: TiKV's ApiVersionNotMatched
// answer matches kv.ErrAPIVersionMismatch.
func TestAPIVersionMismatchAtFirstRequest(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	defer mock.Close()
	cluster, err := tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	err = raw.NewClient(cluster).Put(t.Context(), []byte("k"), []byte("v"))
	if !errors.Is(err, kv.ErrAPIVersionMismatch) {
		t.Fatalf("a v1 Put to v2 storage = %v, want kv.ErrAPIVersionMismatch", err)
	}
}
