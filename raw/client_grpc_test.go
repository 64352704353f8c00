package raw_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
)

// TestTenThousandKeysOverGRPC writes 10,000 keys spread over four regions
// led from two stores, then reads them back with BatchGet, Scan and
// ReverseScan, all over gRPC through the real PD client and pool.
func TestTenThousandKeysOverGRPC(t *testing.T) {
	const n = 10000
	mock, _, client := connectGRPC(t, []mocktikv.Option{
		mocktikv.WithStores(2),
		mocktikv.WithSplitKeys(key(2500), key(5000), key(7500)),
	})
	if got := len(mock.Regions()); got < 4 {
		t.Fatalf("mock has %d regions, want >= 4", got)
	}
	leaders := map[uint64]bool{}
	for _, k := range [][]byte{key(0), key(2500), key(5000), key(7500)} {
		_, leader := mock.RegionByKey(k)
		leaders[leader.GetStoreId()] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("regions are led from %d stores, want 2", len(leaders))
	}

	ctx := t.Context()
	keys, values := make([][]byte, n), make([][]byte, n)
	for i := range n {
		keys[i], values[i] = key(i), value(i)
	}
	// Write in a shuffled order: the client must group by region itself.
	perm := make([]int, n)
	for i := range perm {
		perm[i] = (i * 7919) % n
	}
	shufK, shufV := make([][]byte, n), make([][]byte, n)
	for i, p := range perm {
		shufK[i], shufV[i] = keys[p], values[p]
	}
	if err := client.BatchPut(ctx, shufK, shufV); err != nil {
		t.Fatalf("BatchPut: %v", err)
	}

	got, err := client.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("BatchGet: %v", err)
	}
	for i := range n {
		if !bytes.Equal(got[i], values[i]) {
			t.Fatalf("BatchGet[%d] = %q, want %q", i, got[i], values[i])
		}
	}

	var scanned [][]byte
	for p, err := range client.Scan(ctx, []byte("key"), []byte("kez"), 0) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if !bytes.Equal(p.Value, values[len(scanned)]) {
			t.Fatalf("Scan value of %q = %q", p.Key, p.Value)
		}
		scanned = append(scanned, p.Key)
	}
	if !slices.EqualFunc(scanned, keys, bytes.Equal) {
		t.Fatalf("Scan returned %d keys, want the %d written in order", len(scanned), n)
	}

	var reversed [][]byte
	for p, err := range client.ReverseScan(ctx, []byte("kez"), nil, 0) {
		if err != nil {
			t.Fatalf("ReverseScan: %v", err)
		}
		reversed = append(reversed, p.Key)
	}
	want := slices.Clone(keys)
	slices.Reverse(want)
	if !slices.EqualFunc(reversed, want, bytes.Equal) {
		t.Fatalf("ReverseScan returned %d keys, want the %d written in descending order", len(reversed), n)
	}
}

// TestScanLimitAndBreak checks limits across region boundaries and that
// breaking out of the loop stops further requests.
func TestScanLimitAndBreak(t *testing.T) {
	rec := &recorder{}
	_, _, client := connectGRPC(t, []mocktikv.Option{
		mocktikv.WithStores(2),
		mocktikv.WithSplitKeys(key(10), key(20)),
	}, tikv.WithMiddleware(rec.middleware))
	ctx := t.Context()
	var keys, values [][]byte
	for i := range 30 {
		keys, values = append(keys, key(i)), append(values, value(i))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}

	var got [][]byte
	for p, err := range client.Scan(ctx, key(5), nil, 12) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Key)
	}
	if !slices.EqualFunc(got, keys[5:17], bytes.Equal) {
		t.Fatalf("Scan(key5, limit 12) = %q", got)
	}

	got = nil
	for p, err := range client.ReverseScan(ctx, key(25), key(3), 15) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Key)
	}
	want := slices.Clone(keys[10:25])
	slices.Reverse(want)
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("ReverseScan(key25, key3, limit 15) = %q", got)
	}

	rec.take()
	for p, err := range client.Scan(ctx, key(0), nil, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(p.Key, key(2)) {
			break
		}
	}
	if scans := rec.take(); len(scans) != 1 {
		t.Fatalf("breaking in the first region sent %d requests, want 1", len(scans))
	}
}

// TestSplitAfterCaching: a region splits after the client cached it. The
// stale piece gets EpochNotMatch and only that piece is re-split and
// resent; the other regions' pieces are sent once.
func TestSplitAfterCaching(t *testing.T) {
	rec := &recorder{}
	mock, _, client := connectGRPC(t, []mocktikv.Option{
		mocktikv.WithStores(2),
		mocktikv.WithSplitKeys(key(100), key(200), key(300)),
	}, tikv.WithMiddleware(rec.middleware))
	ctx := t.Context()
	var keys, values [][]byte
	for i := range 400 {
		keys, values = append(keys, key(i)), append(values, value(i))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}
	stale := regionOf(t, mock, key(150))
	if _, err := mock.Split(key(150)); err != nil {
		t.Fatal(err)
	}
	rec.take()

	got, err := client.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("BatchGet after split: %v", err)
	}
	for i := range keys {
		if !bytes.Equal(got[i], values[i]) {
			t.Fatalf("BatchGet[%d] = %q", i, got[i])
		}
	}
	perRegion := map[uint64][]attempt{}
	for _, a := range rec.take() {
		perRegion[a.regionID] = append(perRegion[a.regionID], a)
	}
	if a := perRegion[stale]; len(a) == 0 || a[0].regErr != "EpochNotMatch" {
		t.Fatalf("stale region %d attempts = %+v, want a first EpochNotMatch", stale, a)
	}
	for _, k := range [][]byte{key(0), key(200), key(300)} {
		id := regionOf(t, mock, k)
		if a := perRegion[id]; len(a) != 1 || a[0].regErr != "" {
			t.Errorf("untouched region %d got attempts %+v, want exactly one clean attempt", id, a)
		}
	}
	// The split halves: the one that kept the old id saw the stale attempt
	// and then one clean attempt; the new one saw one clean attempt.
	for _, k := range [][]byte{key(100), key(150)} {
		id := regionOf(t, mock, k)
		a := perRegion[id]
		if id == stale {
			if len(a) != 2 || a[1].regErr != "" {
				t.Errorf("half %d that kept the id: attempts %+v, want stale then clean", id, a)
			}
			continue
		}
		if len(a) != 1 || a[0].regErr != "" {
			t.Errorf("new half %d: attempts %+v, want one clean attempt", id, a)
		}
	}
}

// TestLeaderMovesOverGRPC: the leader moves after the client cached the
// region; TiKV answers NotLeader naming the new leader and the client goes
// there next.
func TestLeaderMovesOverGRPC(t *testing.T) {
	rec := &recorder{}
	mock, _, client := connectGRPC(t, []mocktikv.Option{mocktikv.WithStores(2)}, tikv.WithMiddleware(rec.middleware))
	ctx := t.Context()
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	region, leader := mock.RegionByKey([]byte("k"))
	target := otherStore(mock, leader.GetStoreId())
	if err := mock.TransferLeader(region.GetId(), target); err != nil {
		t.Fatal(err)
	}
	rec.take()
	if v, err := client.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	got := rec.take()
	if len(got) != 2 || got[0].regErr != "NotLeader" || got[0].storeID != leader.GetStoreId() ||
		got[1].regErr != "" || got[1].storeID != target || got[1].n != 1 {
		t.Fatalf("attempts = %+v, want NotLeader at store %d then success at store %d", got, leader.GetStoreId(), target)
	}
}

// TestStoreDownOverGRPC: the leader's store stops. Sends fail, the client
// backs off and keeps trying until the caller's deadline, then reports the
// send failure as the cause.
func TestStoreDownOverGRPC(t *testing.T) {
	rec := &recorder{}
	mock, _, client := connectGRPC(t, []mocktikv.Option{mocktikv.WithStores(2)}, tikv.WithMiddleware(rec.middleware))
	if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, leader := mock.RegionByKey([]byte("k"))
	if err := mock.StopStore(leader.GetStoreId()); err != nil {
		t.Fatal(err)
	}
	rec.take()
	ctx, cancel := context.WithTimeout(t.Context(), 800*time.Millisecond)
	defer cancel()
	_, err := client.Get(ctx, []byte("k"))
	var exhausted *kv.BackoffExhaustedError
	if !errors.As(err, &exhausted) {
		t.Fatalf("Get with the leader's store down = %v, want *kv.BackoffExhaustedError", err)
	}
	// The error carries the deadline and, somewhere in its causes, the
	// failed send to the stopped store (gRPC Unavailable).
	if !errors.Is(err, context.DeadlineExceeded) || !hasGRPCCode(err, codes.Unavailable) {
		t.Fatalf("error %v: want deadline exceeded with the send failure as a cause", err)
	}
	// The stopped store's attempts all failed; once its health check
	// failed, the client asked the other replica, which named the dead
	// leader (NotLeader) and could not serve.
	sends := rec.take()
	toDead, toOther := 0, 0
	for _, a := range sends {
		if a.storeID == leader.GetStoreId() {
			toDead++
			if a.err == nil {
				t.Fatalf("attempt %+v succeeded against a stopped store", a)
			}
		} else {
			toOther++
		}
	}
	if toDead == 0 || toOther == 0 {
		t.Fatalf("attempts %+v: want tries at the stopped leader and fail-over tries at the other store", sends)
	}

	// The store comes back: the same client recovers.
	if err := mock.StartStore(leader.GetStoreId()); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(t.Context(), []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get after restart = %q, %v", v, err)
	}
}

// hasGRPCCode reports whether err's tree holds a gRPC status error with
// code c.
func hasGRPCCode(err error, c codes.Code) bool {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() == c {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if hasGRPCCode(e, c) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return hasGRPCCode(u.Unwrap(), c)
	}
	return false
}

func otherStore(mock *mocktikv.Cluster, not uint64) uint64 {
	for _, id := range mock.StoreIDs() {
		if id != not {
			return id
		}
	}
	return 0
}
