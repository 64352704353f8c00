package tikv_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// keyspacePair connects two clusters, in keyspaces "a" and "b" of one
// in-process API v2 mocktikv; wrap, if set, sits between a's middleware
// chain and the mock (a scripted server).
func keyspacePair(t *testing.T, wrap func(transport.Sender) transport.Sender) (*mocktikv.Cluster, *tikv.Cluster, *tikv.Cluster) {
	t.Helper()
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("a"), mocktikv.WithKeyspace("b"))
	t.Cleanup(mock.Close)
	connect := func(name string, s transport.Sender) *tikv.Cluster {
		c, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(s), tikv.WithKeyspace(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var s transport.Sender = mock.Sender()
	if wrap != nil {
		s = wrap(s)
	}
	return mock, connect("a", s), connect("b", mock.Sender())
}

func rawPrefix(id uint32) []byte { return []byte{'r', byte(id >> 16), byte(id >> 8), byte(id)} }

// TestKeyspaceBoundedRegionLoad: loading the regions of a bounded range in
// a keyspace works (EncodeRegionEnd used to drop the keyspace prefix of
// the end, so PD saw start > end, or a range running to the keyspace's
// end).
func TestKeyspaceBoundedRegionLoad(t *testing.T) {
	mock, a, _ := keyspacePair(t, nil)
	p := rawPrefix(a.KeyspaceID())
	for _, k := range []string{"k05", "k10", "k20"} {
		if _, err := mock.Split(codec.EncodeBytes(nil, append(bytes.Clone(p), k...))); err != nil {
			t.Fatal(err)
		}
	}
	regions, err := a.RegionCacheFor(kv.ModeRaw).LoadRange(context.Background(), []byte("k06"), []byte("k12"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var bounds []string
	for _, r := range regions {
		bounds = append(bounds, string(r.StartKey())+"-"+string(r.EndKey()))
	}
	if want := []string{"k05-k10", "k10-k20"}; !slices.Equal(bounds, want) {
		t.Fatalf("regions of [k06, k12) = %v, want %v", bounds, want)
	}
}

// TestKeyspaceForeignResponseNeverReachesTheCaller: a server that slips a
// pair of keyspace b into a's raw scan, or answers a's batch get with b's
// key of the same name, makes the call fail with ErrOutsideKeyspace; the
// foreign value is never yielded or returned.
func TestKeyspaceForeignResponseNeverReachesTheCaller(t *testing.T) {
	var foreign []byte // b's wire key for "k"
	intrude := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			resp, err := next.Send(ctx, req)
			if err != nil {
				return resp, err
			}
			pair := &kvrpcpb.KvPair{Key: bytes.Clone(foreign), Value: []byte("b's secret")}
			switch m := resp.Msg.(type) {
			case *kvrpcpb.RawScanResponse:
				m.Kvs = append(m.Kvs, pair)
			case *kvrpcpb.RawBatchGetResponse:
				m.Pairs = []*kvrpcpb.KvPair{pair}
			}
			return resp, nil
		})
	}
	_, a, b := keyspacePair(t, intrude)
	foreign = append(rawPrefix(b.KeyspaceID()), 'k')
	ra := raw.NewClient(a)
	if err := ra.Put(context.Background(), []byte("j"), []byte("a's own")); err != nil {
		t.Fatal(err)
	}
	// A protocol violation is final: the call fails at once, without
	// backing off (the deadline is only a guard).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var scanErr error
	for p, err := range ra.Scan(ctx, nil, nil, 0) {
		if err != nil {
			scanErr = err
			break
		}
		if string(p.Value) == "b's secret" {
			t.Fatalf("scan yielded keyspace b's pair as %q", p.Key)
		}
	}
	if !errors.Is(scanErr, middleware.ErrOutsideKeyspace) || !errors.Is(scanErr, kv.ErrProtocol) {
		t.Fatalf("scan with a foreign pair: %v", scanErr)
	}
	var be *kv.BackoffExhaustedError
	if errors.As(scanErr, &be) {
		t.Fatalf("scan with a foreign pair backed off (%v): a protocol violation is final", scanErr)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	vals, err := ra.BatchGet(ctx, [][]byte{[]byte("k")})
	if !errors.Is(err, middleware.ErrOutsideKeyspace) {
		t.Fatalf("batch get answered with b's key: %q, %v", vals, err)
	}
	for _, v := range vals {
		if string(v) == "b's secret" {
			t.Fatal("batch get returned keyspace b's value")
		}
	}
}
