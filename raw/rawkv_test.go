package raw_test

// The cases of client-go's rawkv/rawkv_test.go (testRawkvSuite), run
// against in-process mocktikv. client-go's suite starts every case on a
// two-store, one-region cluster whose leader is on store1, and most cases
// move the region to store2 while the client still has the old routing
// cached: store1 and store2 swap addresses, store1 is removed, the leader
// moves to store2 and store1's peer is dropped. The client must notice
// (StoreNotMatch from the store now answering at store1's old address) and
// re-route.
//
// client-go's mocktikv accepts any column family name; TiKV accepts only
// "default", "lock" and "write", so the ports use "lock" and "write" where
// client-go names "cf1"/"cf2", "test_cf" or "my_cf".

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"maps"
	"slices"
	"sync"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// addrRouter delivers each request to the store listening at the request's
// target address, as a network does, rather than to the store the client
// meant (mocktikv's in-process Sender goes by store id). Tests move stores
// between addresses with listen.
type addrRouter struct {
	next transport.Sender
	mu   sync.Mutex
	at   map[string]uint64
}

func newAddrRouter(mock *mocktikv.Cluster) *addrRouter {
	r := &addrRouter{next: mock.Sender(), at: map[string]uint64{}}
	for _, id := range mock.StoreIDs() {
		r.at[mock.StoreAddr(id)] = id
	}
	return r
}

func (r *addrRouter) listen(addr string, storeID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at[addr] = storeID
}

func (r *addrRouter) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	r.mu.Lock()
	id, ok := r.at[req.Target.Addr]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: nothing listens at %q", transport.ErrNotSent, req.Target.Addr)
	}
	routed := *req
	routed.Target.StoreID = id
	return r.next.Send(ctx, &routed)
}

// rawkvSuite is client-go's testRawkvSuite fixture.
type rawkvSuite struct {
	t              *testing.T
	mock           *mocktikv.Cluster
	router         *addrRouter
	rec            *recorder
	client         *raw.Client
	region         uint64
	store1, store2 uint64 // store1 leads, store2 follows
}

func newRawkvSuite(t *testing.T) *rawkvSuite {
	t.Helper()
	mock := mocktikv.NewCluster(mocktikv.WithStores(2))
	router, rec := newAddrRouter(mock), &recorder{}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(router),
		tikv.WithMiddleware(rec.middleware))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	region, leader := mock.RegionByKey([]byte("a"))
	s := &rawkvSuite{t: t, mock: mock, router: router, rec: rec, client: raw.NewClient(cluster), region: region.GetId(), store1: leader.GetStoreId()}
	s.store2 = otherStore(mock, s.store1)
	return s
}

func (s *rawkvSuite) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// moveToStore2 is client-go's "make store2 using store1's addr and store1
// offline": the stores swap addresses, the leader moves to store2, store1's
// peer is removed and store1 is buried.
func (s *rawkvSuite) moveToStore2() {
	s.t.Helper()
	addr1, addr2 := s.mock.StoreAddr(s.store1), s.mock.StoreAddr(s.store2)
	s.must(s.mock.SetStoreAddress(s.store1, addr2))
	s.must(s.mock.SetStoreAddress(s.store2, addr1))
	s.router.listen(addr1, s.store2)
	s.router.listen(addr2, s.store1)
	s.must(s.mock.TransferLeader(s.region, s.store2))
	s.must(s.mock.RemovePeer(s.region, s.store1))
	s.must(s.mock.TombstoneStore(s.store1))
	s.rec.take()
}

// rerouted checks that the calls since moveToStore2 first met the moved
// store (StoreNotMatch) and then succeeded on want.
func (s *rawkvSuite) rerouted(want uint64) {
	s.t.Helper()
	got := s.rec.take()
	if len(got) < 2 || got[0].regErr != "StoreNotMatch" || got[len(got)-1].storeID != want || got[len(got)-1].regErr != "" {
		s.t.Fatalf("attempts %+v: want StoreNotMatch, then success on store %d", got, want)
	}
}

func (s *rawkvSuite) mustGet(c *raw.Client, k string, want []byte, opts ...raw.CallOption) {
	s.t.Helper()
	v, err := c.Get(context.Background(), []byte(k), opts...)
	switch {
	case want == nil && !errors.Is(err, kv.ErrNotFound):
		s.t.Fatalf("Get(%q) = %q, %v; want kv.ErrNotFound", k, v, err)
	case want != nil && (err != nil || !bytes.Equal(v, want)):
		s.t.Fatalf("Get(%q) = %q, %v; want %q", k, v, err, want)
	}
}

// sixPairs is the data set most client-go cases use.
func sixPairs() (map[string]string, [][]byte, [][]byte) {
	pairs := map[string]string{
		"db": "TiDB", "key2": "value2", "key1": "value1", "key4": "value4", "key3": "value3", "kv": "TiKV",
	}
	var keys, values [][]byte
	for _, k := range slices.Sorted(maps.Keys(pairs)) {
		keys, values = append(keys, []byte(k)), append(values, []byte(pairs[k]))
	}
	return pairs, keys, values
}

func scanKeys(t *testing.T, c *raw.Client, start, end []byte, limit int, opts ...raw.CallOption) []string {
	t.Helper()
	var out []string
	for p, err := range c.Scan(context.Background(), start, end, limit, opts...) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		out = append(out, string(p.Key))
	}
	return out
}

// TestRawkvReplaceAddrWithNewStore: after store1's address is taken over by
// store2 and store1 is gone, a Get routed with the old cache still reads
// the value.
func TestRawkvReplaceAddrWithNewStore(t *testing.T) {
	s := newRawkvSuite(t)
	s.must(s.client.Put(context.Background(), []byte("test_key"), []byte("test_value")))
	s.moveToStore2()
	s.mustGet(s.client, "test_key", []byte("test_value"))
	s.rerouted(s.store2)
}

// TestRawkvUpdateStoreAddr: the two stores only swap addresses; the client
// re-resolves store1 when the store at its old address says StoreNotMatch.
func TestRawkvUpdateStoreAddr(t *testing.T) {
	s := newRawkvSuite(t)
	s.must(s.client.Put(context.Background(), []byte("test_key"), []byte("test_value")))
	addr1, addr2 := s.mock.StoreAddr(s.store1), s.mock.StoreAddr(s.store2)
	s.must(s.mock.SetStoreAddress(s.store1, addr2))
	s.must(s.mock.SetStoreAddress(s.store2, addr1))
	s.router.listen(addr1, s.store2)
	s.router.listen(addr2, s.store1)
	s.rec.take()
	s.mustGet(s.client, "test_key", []byte("test_value"))
	s.rerouted(s.store1)
}

// TestRawkvReplaceNewAddrAndOldOfflineImmediately: as
// ReplaceAddrWithNewStore, but the client had also cached store2's old
// address (through a follower read), which now leads to the buried store1.
func TestRawkvReplaceNewAddrAndOldOfflineImmediately(t *testing.T) {
	s := newRawkvSuite(t)
	s.must(s.client.Put(context.Background(), []byte("test_key"), []byte("test_value")))
	s.mustGet(s.client, "test_key", []byte("test_value"), raw.ReplicaRead(kv.ReplicaReadFollower))
	s.moveToStore2()
	s.mustGet(s.client, "test_key", []byte("test_value"))
}

// TestRawkvReplaceStore: store1 is replaced by a new store3 at the same
// address; writes reach store3.
func TestRawkvReplaceStore(t *testing.T) {
	s := newRawkvSuite(t)
	s.must(s.client.Put(context.Background(), []byte("test_key"), []byte("test_value")))
	addr1 := s.mock.StoreAddr(s.store1)
	store3, err := s.mock.AddStore()
	s.must(err)
	s.must(s.mock.AddPeer(s.region, store3))
	s.must(s.mock.TransferLeader(s.region, store3))
	s.must(s.mock.RemovePeer(s.region, s.store1))
	s.must(s.mock.TombstoneStore(s.store1))
	s.must(s.mock.SetStoreAddress(store3, addr1))
	s.router.listen(addr1, store3)
	s.rec.take()
	s.must(s.client.Put(context.Background(), []byte("test_key"), []byte("test_value")))
	s.rerouted(store3)
	s.mustGet(s.client, "test_key", []byte("test_value"))
}

// TestRawkvColumnFamilyForClient: the client-wide column family
// (client-go's SetColumnFamily, tikvgo's With(WithColumnFamily)) scopes
// puts, gets and deletes.
func TestRawkvColumnFamilyForClient(t *testing.T) {
	s := newRawkvSuite(t)
	cf1, cf2 := s.client.With(raw.WithColumnFamily("lock")), s.client.With(raw.WithColumnFamily("write"))
	def := cf1.With(raw.WithColumnFamily(""))
	ctx := context.Background()
	s.must(cf1.Put(ctx, []byte("test_key_cf1"), []byte("test_value_cf1")))
	s.must(cf2.Put(ctx, []byte("test_key_cf2"), []byte("test_value_cf2")))
	s.moveToStore2()

	s.mustGet(cf1, "test_key_cf1", []byte("test_value_cf1"))
	s.rerouted(s.store2)
	s.mustGet(cf1, "test_key_cf2", nil)
	s.mustGet(cf2, "test_key_cf2", []byte("test_value_cf2"))
	s.mustGet(cf2, "test_key_cf1", nil)
	s.mustGet(def, "test_key_cf1", nil)
	s.mustGet(def, "test_key_cf2", nil)

	s.must(cf1.Delete(ctx, []byte("test_key_cf1")))
	s.mustGet(cf1, "test_key_cf1", nil)
	s.must(cf2.Delete(ctx, []byte("test_key_cf2")))
	s.mustGet(cf2, "test_key_cf2", nil)
}

// TestRawkvColumnFamilyForOptions: the per-call ColumnFamily option.
func TestRawkvColumnFamilyForOptions(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	cf1, cf2 := raw.ColumnFamily("lock"), raw.ColumnFamily("write")
	s.must(s.client.Put(ctx, []byte("key_cf1"), []byte("value_cf1"), cf1))
	s.must(s.client.Put(ctx, []byte("key_cf2"), []byte("value_cf2"), cf2))
	s.moveToStore2()

	s.mustGet(s.client, "key_cf1", []byte("value_cf1"), cf1)
	s.mustGet(s.client, "key_cf2", nil, cf1)
	s.mustGet(s.client, "key_cf2", []byte("value_cf2"), cf2)
	s.mustGet(s.client, "key_cf1", nil, cf2)

	s.must(s.client.Delete(ctx, []byte("key_cf1"), cf1))
	s.mustGet(s.client, "key_cf1", nil, cf1)
	s.must(s.client.Delete(ctx, []byte("key_cf2"), cf2))
	s.mustGet(s.client, "key_cf2", nil, cf2)
}

// TestRawkvBatch: BatchPut, BatchGet and BatchDelete in a column family.
func TestRawkvBatch(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	cf := raw.ColumnFamily("write")
	pairs, keys, values := sixPairs()
	s.must(s.client.BatchPut(ctx, keys, values, cf))
	s.moveToStore2()

	got, err := s.client.BatchGet(ctx, keys, cf)
	s.must(err)
	for i, k := range keys {
		if string(got[i]) != pairs[string(k)] {
			t.Fatalf("BatchGet[%s] = %q, want %q", k, got[i], pairs[string(k)])
		}
	}
	// The default column family has none of them.
	got, err = s.client.BatchGet(ctx, keys)
	s.must(err)
	if slices.ContainsFunc(got, func(v []byte) bool { return v != nil }) {
		t.Fatalf("BatchGet in the default column family = %q", got)
	}
	s.must(s.client.BatchDelete(ctx, keys, cf))
	s.mustGet(s.client, string(keys[0]), nil, cf)
}

// TestRawkvScan: a limited Scan, and a key-only ReverseScan, in a column
// family.
func TestRawkvScan(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	cf := raw.ColumnFamily("write")
	pairs, keys, values := sixPairs()
	s.must(s.client.BatchPut(ctx, keys, values, cf))
	s.moveToStore2()

	var gotKeys []string
	for p, err := range s.client.Scan(ctx, []byte("key1"), []byte("keyz"), 3, cf) {
		s.must(err)
		if string(p.Value) != pairs[string(p.Key)] {
			t.Fatalf("Scan: %s = %q", p.Key, p.Value)
		}
		gotKeys = append(gotKeys, string(p.Key))
	}
	if want := []string{"key1", "key2", "key3"}; !slices.Equal(gotKeys, want) {
		t.Fatalf("Scan = %v, want %v", gotKeys, want)
	}

	gotKeys = nil
	for p, err := range s.client.ReverseScan(ctx, []byte("key3"), nil, 10, cf, raw.KeyOnly()) {
		s.must(err)
		if p.Value != nil {
			t.Fatalf("KeyOnly ReverseScan returned value %q for %s", p.Value, p.Key)
		}
		gotKeys = append(gotKeys, string(p.Key))
	}
	if want := []string{"key2", "key1", "db"}; !slices.Equal(gotKeys, want) {
		t.Fatalf("ReverseScan = %v, want %v", gotKeys, want)
	}
}

// TestRawkvDeleteRange: DeleteRange to the end of the key space, then of
// everything with (nil, nil).
func TestRawkvDeleteRange(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	cf := raw.ColumnFamily("write")
	_, keys, values := sixPairs()
	s.must(s.client.BatchPut(ctx, keys, values, cf))
	s.moveToStore2()

	s.must(s.client.DeleteRange(ctx, []byte("key3"), nil, cf))
	if got := scanKeys(t, s.client, []byte("key3"), nil, 10, cf); len(got) != 0 {
		t.Fatalf("after DeleteRange(key3, nil): %v", got)
	}
	if got := scanKeys(t, s.client, nil, nil, 10, cf); !slices.Equal(got, []string{"db", "key1", "key2"}) {
		t.Fatalf("remaining keys %v", got)
	}
	s.must(s.client.DeleteRange(ctx, nil, nil, cf))
	if got := scanKeys(t, s.client, nil, nil, 10, cf); len(got) != 0 {
		t.Fatalf("after DeleteRange(nil, nil): %v", got)
	}
}

// TestRawkvDeleteRangeEmptyKeysMultiRegion: DeleteRange(nil, nil) must walk
// every region.
func TestRawkvDeleteRangeEmptyKeysMultiRegion(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	_, err := s.mock.Split([]byte("key3"))
	s.must(err)
	if regionOf(t, s.mock, []byte("key1")) == regionOf(t, s.mock, []byte("key4")) {
		t.Fatal("key1 and key4 share a region")
	}
	cf := raw.ColumnFamily("write")
	_, keys, values := sixPairs()
	s.must(s.client.BatchPut(ctx, keys, values, cf))
	if got := scanKeys(t, s.client, nil, nil, 10, cf); len(got) != len(keys) {
		t.Fatalf("scan before = %v", got)
	}
	s.must(s.client.DeleteRange(ctx, nil, nil, cf))
	if got := scanKeys(t, s.client, nil, nil, 10, cf); len(got) != 0 {
		t.Fatalf("after DeleteRange(nil, nil): %v", got)
	}
}

// TestRawkvCompareAndSwap: CAS is refused outside atomic mode; in atomic
// mode a mismatch returns the current value without swapping, a match
// swaps.
func TestRawkvCompareAndSwap(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	cf := raw.ColumnFamily("lock")
	key, value, newValue := []byte("kv"), []byte("TiDB"), []byte("TiKV")
	s.must(s.client.Put(ctx, key, value, cf))
	s.moveToStore2()

	if _, _, err := s.client.CompareAndSwap(ctx, key, value, newValue, cf); !errors.Is(err, raw.ErrNotAtomic) {
		t.Fatalf("CAS without atomic mode = %v, want raw.ErrNotAtomic", err)
	}
	atomic := s.client.With(raw.WithAtomicForCAS(true))
	old, swapped, err := atomic.CompareAndSwap(ctx, key, newValue, newValue, cf)
	if err != nil || swapped || !bytes.Equal(old, value) {
		t.Fatalf("mismatched CAS = %q, %v, %v; want %q, false", old, swapped, err, value)
	}
	old, swapped, err = atomic.CompareAndSwap(ctx, key, value, newValue, cf)
	if err != nil || !swapped || !bytes.Equal(old, value) {
		t.Fatalf("matching CAS = %q, %v, %v; want %q, true", old, swapped, err, value)
	}
	s.mustGet(s.client, "kv", newValue, cf)
}

// TestRawkvRawChecksum: Checksum over the data set equals the XOR of
// CRC-64/ECMA digests of key+value, with counts and bytes.
func TestRawkvRawChecksum(t *testing.T) {
	s := newRawkvSuite(t)
	ctx := context.Background()
	_, keys, values := sixPairs()
	var want raw.Checksum
	table := crc64.MakeTable(crc64.ECMA)
	for i, k := range keys {
		want.Crc64Xor ^= crc64.Update(crc64.Update(0, table, k), table, values[i])
		want.TotalKvs++
		want.TotalBytes += uint64(len(k) + len(values[i]))
	}
	// client-go names "CF_DEFAULT", which its mocktikv takes as any other
	// name; TiKV checksums the default column family.
	s.must(s.client.BatchPut(ctx, keys, values))
	got, err := s.client.Checksum(ctx, []byte("db"), nil)
	s.must(err)
	if got != want {
		t.Fatalf("Checksum = %+v, want %+v", got, want)
	}
}
