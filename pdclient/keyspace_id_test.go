package pdclient

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/apipb"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

// metaLoader answers LoadKeyspace with a fixed meta and error.
type metaLoader struct {
	meta *keyspacepb.KeyspaceMeta
	err  error
}

func (l metaLoader) LoadKeyspace(context.Context, string) (*keyspacepb.KeyspaceMeta, error) {
	return l.meta, l.err
}

// TestPortGetKeyspaceIDRejectsV3Identity ports client-go's
// TestGetKeyspaceIDRejectsV3Identity (internal/locate/pd_codec_test.go): an
// ENABLED keyspace that PD identifies by an API v3 namespace/keyspace pair
// is refused (kv.ErrAPIVersionMismatch), never read as id 0. The other
// cases pin the rest of KeyspaceID's contract: a numeric id is returned, a
// keyspace that is not ENABLED is refused, PD's error is kept, and a nil
// meta is a protocol error.
func TestPortGetKeyspaceIDRejectsV3Identity(t *testing.T) {
	ctx := context.Background()
	ident := &keyspacepb.KeyspaceMeta{State: keyspacepb.KeyspaceState_ENABLED, Keyspace: &keyspacepb.KeyspaceMeta_KeyspaceIdentity{
		KeyspaceIdentity: &apipb.KeyspaceIdentity{NamespaceId: 1, KeyspaceId: 2},
	}}
	if id, err := KeyspaceID(ctx, metaLoader{meta: ident}, "foo"); !errors.Is(err, kv.ErrAPIVersionMismatch) || id != 0 {
		t.Fatalf("v3 identity: id %d, %v", id, err)
	}

	numeric := &keyspacepb.KeyspaceMeta{State: keyspacepb.KeyspaceState_ENABLED, Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 42}}
	if id, err := KeyspaceID(ctx, metaLoader{meta: numeric}, "foo"); err != nil || id != 42 {
		t.Fatalf("numeric id: %d, %v", id, err)
	}
	disabled := &keyspacepb.KeyspaceMeta{State: keyspacepb.KeyspaceState_DISABLED, Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: 42}}
	if _, err := KeyspaceID(ctx, metaLoader{meta: disabled}, "foo"); err == nil {
		t.Fatal("a DISABLED keyspace was accepted")
	}
	if _, err := KeyspaceID(ctx, metaLoader{err: kv.ErrKeyspaceNotFound}, "foo"); !errors.Is(err, kv.ErrKeyspaceNotFound) {
		t.Fatalf("unknown keyspace: %v", err)
	}
	if _, err := KeyspaceID(ctx, metaLoader{}, "foo"); !errors.Is(err, kv.ErrProtocol) {
		t.Fatalf("nil meta: %v", err)
	}
}

// TestCodecPDDecodesBucketKeys: buckets PD reports with a region that
// reaches past the keyspace on both sides reach the region cache as the
// keyspace's logical boundaries, from "" to "" (the decoding client-go's
// TestDecodeBucketKeys pins, here through WithCodec and a cache lookup).
func TestCodecPDDecodesBucketKeys(t *testing.T) {
	c, err := apicodec.NewV2(kv.ModeTxn, 5)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(prefix byte, k string) string {
		return string(codec.EncodeBytes(nil, append([]byte{'x', 0, 0, prefix}, k...)))
	}
	pd := newFakePD()
	pd.buckets = map[uint64]*metapb.Buckets{1: {RegionId: 1, Version: 2, Keys: [][]byte{
		[]byte(enc(4, "a")), []byte(enc(4, "b")),
		[]byte(enc(5, "a")), []byte(enc(5, "b")),
		[]byte(enc(6, "")), []byte(enc(6, "a")),
	}}}
	pd.setRegions(region(1, enc(4, "a"), enc(6, "a"), 1, 1, 1))
	cache := NewRegionCache(WithCodec(pd, c))
	defer cache.Close()
	r, err := cache.Locate(context.Background(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	got := r.Buckets().GetKeys()
	want := []string{"", "a", "b", ""}
	if len(got) != len(want) {
		t.Fatalf("bucket keys %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("bucket keys %q, want %q", got, want)
		}
	}
	if string(r.StartKey()) != "" || string(r.EndKey()) != "" || r.BucketVersion() != 2 {
		t.Fatalf("region [%q, %q) bucket version %d", r.StartKey(), r.EndKey(), r.BucketVersion())
	}
}
