package raw_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// sent records the requests that reach the transport.
type sent struct {
	mu   sync.Mutex
	reqs []*transport.Request
}

func (s *sent) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		return next.Send(ctx, req)
	})
}

func (s *sent) take() []*transport.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.reqs
	s.reqs = nil
	return out
}

func connectRecorded(t *testing.T, mockOpts ...mocktikv.Option) (*mocktikv.Cluster, *raw.Client, *sent) {
	t.Helper()
	s := &sent{}
	mock, _, client := connectInProcess(t, mockOpts, tikv.WithMiddleware(s.middleware))
	return mock, client, s
}

// TestOptionsNotTakenAreRejected: an option a method does not take fails
// the call before anything is sent, rather than being ignored.
func TestOptionsNotTakenAreRejected(t *testing.T) {
	_, client, rec := connectRecorded(t)
	atomic := client.With(raw.WithAtomicForCAS(true))
	ctx := context.Background()
	k, ks := []byte("k"), [][]byte{[]byte("k")}
	for name, err := range map[string]error{
		"Get TTL":                 func() error { _, err := client.Get(ctx, k, raw.TTL(time.Second)); return err }(),
		"Get KeyOnly":             func() error { _, err := client.Get(ctx, k, raw.KeyOnly()); return err }(),
		"BatchGet TTL":            func() error { _, err := client.BatchGet(ctx, ks, raw.TTL(time.Second)); return err }(),
		"Put ReplicaRead":         client.Put(ctx, k, k, raw.ReplicaRead(kv.ReplicaReadFollower)),
		"Put KeyOnly":             client.Put(ctx, k, k, raw.KeyOnly()),
		"BatchPutWithTTL TTL":     client.BatchPutWithTTL(ctx, ks, ks, nil, raw.TTL(time.Second)),
		"Delete TTL":              client.Delete(ctx, k, raw.TTL(time.Second)),
		"BatchDelete KeyOnly":     client.BatchDelete(ctx, ks, raw.KeyOnly()),
		"DeleteRange ReplicaRead": client.DeleteRange(ctx, nil, nil, raw.ReplicaRead(kv.ReplicaReadFollower)),
		"Scan TTL":                firstErr(client.Scan(ctx, nil, nil, 0, raw.TTL(time.Second))),
		"ReverseScan TTL":         firstErr(client.ReverseScan(ctx, k, nil, 0, raw.TTL(time.Second))),
		"CompareAndSwap ReplicaRead": func() error {
			_, _, err := atomic.CompareAndSwap(ctx, k, nil, k, raw.ReplicaRead(kv.ReplicaReadMixed))
			return err
		}(),
		"GetKeyTTL TTL":               func() error { _, err := client.GetKeyTTL(ctx, k, raw.TTL(time.Second)); return err }(),
		"Checksum ColumnFamily":       func() error { _, err := client.Checksum(ctx, nil, nil, raw.ColumnFamily("default")); return err }(),
		"Put negative TTL":            client.Put(ctx, k, k, raw.TTL(-time.Second)),
		"BatchPutWithTTL negative":    client.BatchPutWithTTL(ctx, ks, ks, []time.Duration{-1}),
		"BatchPutWithTTL ttls length": client.BatchPutWithTTL(ctx, ks, ks, []time.Duration{1, 2}),
		"CompareAndSwap empty key":    func() error { _, _, err := atomic.CompareAndSwap(ctx, nil, nil, k); return err }(),
		"GetKeyTTL empty key":         func() error { _, err := client.GetKeyTTL(ctx, nil); return err }(),
		"Checksum inverted":           func() error { _, err := client.Checksum(ctx, []byte("b"), []byte("a")); return err }(),
	} {
		if !errors.Is(err, kv.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want kv.ErrInvalidArgument", name, err)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("%d requests sent for rejected calls", len(got))
	}
}

// TestPriorityAndRequestSource: both options land in the kvrpcpb.Context of
// every request of every method.
func TestPriorityAndRequestSource(t *testing.T) {
	_, client, rec := connectRecorded(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL), mocktikv.WithSplitKeys([]byte("m")))
	atomic := client.With(raw.WithAtomicForCAS(true))
	ctx := context.Background()
	opts := []raw.CallOption{raw.Priority(kvrpcpb.CommandPri_High), raw.RequestSource("external_test")}
	ks := [][]byte{[]byte("a"), []byte("z")}
	calls := map[string]func() error{
		"Get":             func() error { _, err := client.Get(ctx, ks[0], opts...); return ignoreNotFound(err) },
		"BatchGet":        func() error { _, err := client.BatchGet(ctx, ks, opts...); return err },
		"Put":             func() error { return client.Put(ctx, ks[0], ks[0], opts...) },
		"BatchPut":        func() error { return client.BatchPut(ctx, ks, ks, opts...) },
		"BatchPutWithTTL": func() error { return client.BatchPutWithTTL(ctx, ks, ks, []time.Duration{time.Hour, 0}, opts...) },
		"Delete":          func() error { return client.Delete(ctx, ks[0], opts...) },
		"BatchDelete":     func() error { return client.BatchDelete(ctx, ks, opts...) },
		"DeleteRange":     func() error { return client.DeleteRange(ctx, nil, nil, opts...) },
		"Scan":            func() error { return firstErr(client.Scan(ctx, nil, nil, 0, opts...)) },
		"ReverseScan":     func() error { return firstErr(client.ReverseScan(ctx, []byte("zz"), nil, 0, opts...)) },
		"CompareAndSwap":  func() error { _, _, err := atomic.CompareAndSwap(ctx, ks[0], nil, ks[0], opts...); return err },
		"GetKeyTTL":       func() error { _, err := client.GetKeyTTL(ctx, ks[1], opts...); return ignoreNotFound(err) },
		"Checksum":        func() error { _, err := client.Checksum(ctx, nil, nil, opts...); return err },
	}
	for name, call := range calls {
		rec.take()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reqs := rec.take()
		if len(reqs) == 0 {
			t.Fatalf("%s sent nothing", name)
		}
		for _, r := range reqs {
			c := r.Cmd.Context(r.Msg)
			if c.GetPriority() != kvrpcpb.CommandPri_High || c.GetRequestSource() != "external_test" {
				t.Errorf("%s: %s went with priority %s, source %q", name, r.Cmd, c.GetPriority(), c.GetRequestSource())
			}
		}
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	return err
}

// forCas reports the for_cas flag of a raw write.
func forCas(msg transport.Message) (flag, ok bool) {
	switch m := msg.(type) {
	case *kvrpcpb.RawPutRequest:
		return m.ForCas, true
	case *kvrpcpb.RawBatchPutRequest:
		return m.ForCas, true
	case *kvrpcpb.RawDeleteRequest:
		return m.ForCas, true
	case *kvrpcpb.RawBatchDeleteRequest:
		return m.ForCas, true
	}
	return false, false
}

// TestAtomicModeSetsForCas: in atomic mode every write that has the flag
// carries for_cas (client-go's SetAtomicForCAS); outside it none does.
func TestAtomicModeSetsForCas(t *testing.T) {
	_, client, rec := connectRecorded(t)
	ctx := context.Background()
	ks := [][]byte{[]byte("a"), []byte("b")}
	for _, atomicMode := range []bool{false, true} {
		c := client.With(raw.WithAtomicForCAS(atomicMode))
		rec.take()
		for _, err := range []error{
			c.Put(ctx, ks[0], ks[0]), c.BatchPut(ctx, ks, ks), c.Delete(ctx, ks[0]), c.BatchDelete(ctx, ks),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, r := range rec.take() {
			if flag, ok := forCas(r.Msg); ok {
				n++
				if flag != atomicMode {
					t.Errorf("atomic mode %v: %s has for_cas %v", atomicMode, r.Cmd, flag)
				}
			}
		}
		if n != 4 {
			t.Fatalf("%d writes seen, want 4", n)
		}
	}
}

// TestWithLeavesTheOriginal: With derives a client; the original keeps its
// options.
func TestWithLeavesTheOriginal(t *testing.T) {
	_, client, _ := connectRecorded(t)
	ctx := context.Background()
	lock := client.With(raw.WithColumnFamily("lock"), raw.WithAtomicForCAS(true))
	if err := lock.Put(ctx, []byte("k"), []byte("in lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(ctx, []byte("k")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the original client reads the default column family: %v", err)
	}
	if _, _, err := client.CompareAndSwap(ctx, []byte("k"), nil, []byte("v")); !errors.Is(err, raw.ErrNotAtomic) {
		t.Fatalf("the original client is not atomic: %v", err)
	}
	if v, err := client.Get(ctx, []byte("k"), raw.ColumnFamily("lock")); err != nil || string(v) != "in lock" {
		t.Fatalf("Get in lock = %q, %v", v, err)
	}
}

// TestColumnFamilyNamesTiKVRefuses: TiKV knows three column families under
// API V1 and takes no name under API V2; the refusal is a *kv.ServerError.
func TestColumnFamilyNamesTiKVRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mockOpts []mocktikv.Option
		opts     []tikv.Option
		cf       string
	}{
		{"v1 unknown", nil, nil, "my_cf"},
		{"v2 explicit", []mocktikv.Option{mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2)},
			[]tikv.Option{tikv.WithAPIVersion(kvrpcpb.APIVersion_V2)}, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, client := connectInProcess(t, tc.mockOpts, tc.opts...)
			ctx := context.Background()
			cf := raw.ColumnFamily(tc.cf)
			var se *kv.ServerError
			if err := client.Put(ctx, []byte("k"), []byte("v"), cf); !errors.As(err, &se) {
				t.Errorf("Put = %v, want *kv.ServerError", err)
			}
			if _, err := client.Get(ctx, []byte("k"), cf); !errors.As(err, &se) {
				t.Errorf("Get = %v, want *kv.ServerError", err)
			}
			if _, err := client.BatchGet(ctx, [][]byte{[]byte("k")}, cf); !errors.As(err, &se) {
				t.Errorf("BatchGet = %v, want *kv.ServerError", err)
			}
			if err := firstErr(client.Scan(ctx, []byte("a"), []byte("z"), 0, cf)); !errors.As(err, &se) {
				t.Errorf("Scan = %v, want *kv.ServerError", err)
			}
		})
	}
}

// TestReplicaReadGoesToFollowers: ReplicaRead(follower) sends reads to a
// follower with replica_read set (a tikvgo extension; client-go's rawkv
// reads from the leader only). Writes ignore it and go to the leader.
func TestReplicaReadGoesToFollowers(t *testing.T) {
	mock, client, rec := connectRecorded(t, mocktikv.WithStores(3))
	ctx := context.Background()
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, leader := mock.RegionByKey([]byte("k"))
	rec.take()
	follower := raw.ReplicaRead(kv.ReplicaReadFollower)
	if v, err := client.Get(ctx, []byte("k"), follower); err != nil || string(v) != "v" {
		t.Fatalf("follower Get = %q, %v", v, err)
	}
	if _, err := client.BatchGet(ctx, [][]byte{[]byte("k")}, follower); err != nil {
		t.Fatal(err)
	}
	if err := firstErr(client.Scan(ctx, nil, nil, 0, follower)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.take() {
		if r.Target.StoreID == leader.GetStoreId() || !r.Cmd.Context(r.Msg).GetReplicaRead() {
			t.Errorf("%s went to store %d (leader %d), replica_read %v", r.Cmd, r.Target.StoreID, leader.GetStoreId(),
				r.Cmd.Context(r.Msg).GetReplicaRead())
		}
	}
}
