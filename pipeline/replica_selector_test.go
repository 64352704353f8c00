package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// threeReplicas builds a one-region fake cluster with peers on stores 1, 2
// and 3 (leader on 1) and the key "k" stored.
func threeReplicas(t *testing.T) (*fakeCluster, *pdclient.Region) {
	t.Helper()
	c := newFakeClusterOf(3)
	c.truth.KV().Put("k", "v")
	r, err := c.Locate(context.Background(), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func get(t *testing.T, c *fakeCluster, r *pdclient.Region, ctx context.Context) (*kvrpcpb.RawGetResponse, error) {
	t.Helper()
	return Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
}

func readCtx(o ReadOptions) context.Context { return WithReadOptions(context.Background(), o) }

// staleRead matches attempts sent as stale reads.
func staleRead(req *transport.Request) bool { return req.Cmd.Context(req.Msg).GetStaleRead() }

// notStore matches attempts sent anywhere but to the store.
func notStore(id uint64) pipelinetest.Match {
	return func(req *transport.Request) bool { return req.Target.StoreID != id }
}

// attemptsOf describes each attempt as "store:flags" (r: replica read,
// s: stale read).
func attemptsOf(reqs []*transport.Request) []string {
	out := make([]string, len(reqs))
	for i, req := range reqs {
		rc := req.Cmd.Context(req.Msg)
		f := ""
		if rc.GetReplicaRead() {
			f += "r"
		}
		if rc.GetStaleRead() {
			f += "s"
		}
		out[i] = fmt.Sprintf("%d:%s", req.Target.StoreID, f)
	}
	return out
}

func TestFollowerReadAvoidsLeader(t *testing.T) {
	c, r := threeReplicas(t)
	for range 20 {
		if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadFollower})); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range attemptsOf(c.rec.Requests()) {
		if a == "1:" || a == "1:r" {
			t.Fatalf("a follower read went to the leader: %v", attemptsOf(c.rec.Requests()))
		}
		if a[2:] != "r" {
			t.Fatalf("follower read without replica_read: %v", a)
		}
	}
}

func TestFollowerReadFallsBackToLeader(t *testing.T) {
	c, r := threeReplicas(t)
	c.truth.SetStoreDown(2, true)
	c.truth.SetStoreDown(3, true)
	c.SetHealth(2, pdclient.Health{Liveness: pdclient.Unreachable})
	c.SetHealth(3, pdclient.Health{Liveness: pdclient.Unreachable})
	if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadFollower})); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(attemptsOf(c.rec.Requests())); got != "[1:]" {
		t.Fatalf("attempts = %s, want the leader (no replica_read flag)", got)
	}
}

func TestLearnerRead(t *testing.T) {
	c, _ := threeReplicas(t)
	// Make store 3's peer a learner, and the client learn of it.
	c.truth.SetPeerRole("k", 3, metapb.PeerRole_Learner)
	c.Flush()
	r, _ := c.Locate(context.Background(), []byte("k"))
	for range 10 {
		if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadLearner})); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range attemptsOf(c.rec.Requests()) {
		if a != "3:r" {
			t.Fatalf("learner reads went to %v", attemptsOf(c.rec.Requests()))
		}
	}
}

func TestLabelMatchingPrefersLocalReplica(t *testing.T) {
	c, r := threeReplicas(t)
	zone := &metapb.StoreLabel{Key: "zone", Value: "z2"}
	c.truth.SetStoreLabels(2, zone)
	c.truth.SetStoreLabels(1, &metapb.StoreLabel{Key: "zone", Value: "z1"})
	for _, mode := range []kv.ReplicaReadType{kv.ReplicaReadMixed, kv.ReplicaReadFollower} {
		c.rec.Reset()
		for range 10 {
			if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: mode, MatchLabels: []*metapb.StoreLabel{zone}})); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range attemptsOf(c.rec.Requests()) {
			if a != "2:r" {
				t.Fatalf("%s read with zone z2 went to %v", mode, attemptsOf(c.rec.Requests()))
			}
		}
	}
}

func TestMixedReadUsesLeaderToo(t *testing.T) {
	c, r := threeReplicas(t)
	seen := map[uint64]bool{}
	for range 60 {
		if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadMixed})); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range c.rec.Requests() {
		seen[s.Target.StoreID] = true
		if rc := s.Cmd.Context(s.Msg); rc.GetReplicaRead() != (s.Target.StoreID != 1) {
			t.Fatalf("replica_read must be set exactly for non-leaders: %v", attemptsOf(c.rec.Requests()))
		}
	}
	if len(seen) != 3 {
		t.Fatalf("mixed reads used stores %v, want all three", seen)
	}
}

func TestPreferLeaderSkipsSlowLeader(t *testing.T) {
	c, r := threeReplicas(t)
	if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadPreferLeader})); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(attemptsOf(c.rec.Requests())); got != "[1:]" {
		t.Fatalf("healthy leader: attempts %s", got)
	}
	c.rec.Reset()
	c.SetHealth(1, pdclient.Health{SlowScore: 100})
	if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadPreferLeader})); err != nil {
		t.Fatal(err)
	}
	if got := c.rec.Requests()[0].Target.StoreID; got == 1 {
		t.Fatalf("slow leader still preferred")
	}
}

// TestStaleReadFallsBackToLeader: a stale read first goes to a replica; a
// DataIsNotReady answer moves the second attempt to the leader as a normal
// (non-stale) leader read, without waiting (client-go row 35).
func TestStaleReadFallsBackToLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := threeReplicas(t)
		c.tikv.Always(pipelinetest.And(staleRead, notStore(1)), pipelinetest.RegionError(&errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}))
		zone := &metapb.StoreLabel{Key: "zone", Value: "z3"}
		c.truth.SetStoreLabels(3, zone)
		start := time.Now()
		if _, err := get(t, c, r, readCtx(ReadOptions{StaleRead: true, MatchLabels: []*metapb.StoreLabel{zone}})); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(attemptsOf(c.rec.Requests())); got != "[3:s 1:]" {
			t.Fatalf("attempts = %s, want a stale read on the local replica then a leader read", got)
		}
		if time.Since(start) != 0 {
			t.Fatal("DataIsNotReady must not back off")
		}
	})
}

// TestStaleReadThirdAttemptIsReplicaRead: when the leader fails too, a
// stale read continues as a follower replica read.
func TestStaleReadThirdAttemptIsReplicaRead(t *testing.T) {
	c, r := threeReplicas(t)
	c.tikv.Always(staleRead, pipelinetest.RegionError(&errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}))
	c.tikv.Always(pipelinetest.ForStore(1), pipelinetest.RegionError(&errorpb.Error{Message: "leader trouble"}))
	c.truth.SetStoreLabels(2, &metapb.StoreLabel{Key: "zone", Value: "z2"})
	if _, err := get(t, c, r, readCtx(ReadOptions{StaleRead: true, MatchLabels: c.StoreLabels(2)})); err != nil {
		t.Fatal(err)
	}
	got := attemptsOf(c.rec.Requests())
	if len(got) != 3 || got[0] != "2:s" || got[1] != "1:" || got[2][2:] != "r" {
		t.Fatalf("attempts = %v, want stale on 2, leader read, then a replica read", got)
	}
}

// TestBusyThresholdMovesReadToIdleFollower: a leader read with a busy
// threshold goes to an idle follower while the leader's estimated wait is
// above it, and stays on the leader when every replica is busy.
func TestBusyThresholdMovesReadToIdleFollower(t *testing.T) {
	c, r := threeReplicas(t)
	c.SetHealth(1, pdclient.Health{EstimatedWait: time.Second})
	if _, err := get(t, c, r, readCtx(ReadOptions{BusyThreshold: 100 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	if a := attemptsOf(c.rec.Requests()); len(a) != 1 || a[0] == "1:" || a[0][2:] != "r" {
		t.Fatalf("attempts = %v, want one replica read on a follower", a)
	}
	c.rec.Reset()
	c.SetHealth(2, pdclient.Health{EstimatedWait: time.Second})
	c.SetHealth(3, pdclient.Health{EstimatedWait: time.Second})
	if _, err := get(t, c, r, readCtx(ReadOptions{BusyThreshold: 100 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(attemptsOf(c.rec.Requests())); got != "[1:]" {
		t.Fatalf("all busy: attempts %s, want the leader", got)
	}
	// With every replica busy the threshold is dropped: the leader queues
	// the read instead of rejecting it (client-go).
	if rc := c.rec.Requests()[0].Cmd.Context(c.rec.Requests()[0].Msg); rc.GetBusyThresholdMs() != 0 {
		t.Fatalf("busy_threshold_ms = %d, want 0 once every replica is busy", rc.GetBusyThresholdMs())
	}
}

// TestServerBusyFastRetryOnFollowers: a follower read that meets
// ServerIsBusy moves to another replica at once; the wait is deferred and
// taken only when every replica was busy.
func TestServerBusyFastRetryOnFollowers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := threeReplicas(t)
		busy := pipelinetest.RegionError(&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 50}})
		c.tikv.Always(notStore(3), busy)
		start := time.Now()
		for range 5 {
			c.rec.Reset()
			if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadMixed})); err != nil {
				t.Fatal(err)
			}
		}
		if slept := time.Since(start); slept != 0 {
			t.Fatalf("fast retries slept %v", slept)
		}

		// Every replica busy: the deferred wait is taken before re-routing.
		c.tikv.Always(nil, busy)
		start = time.Now()
		_, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadMixed}))
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Fatal {
			t.Fatalf("err = %v, want a re-route", err)
		}
		if time.Since(start) == 0 {
			t.Fatal("no backoff after every replica was busy")
		}
	})
}

// TestRegionNotFoundOnFollowerRetriesLeader: a follower that does not have
// the region yet answers RegionNotFound; the read is retried on the leader
// once and the cached region is dropped for everyone else.
func TestRegionNotFoundOnFollowerRetriesLeader(t *testing.T) {
	c, r := threeReplicas(t)
	c.tikv.Always(notStore(1), pipelinetest.RegionError(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}))
	if _, err := get(t, c, r, readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadFollower})); err != nil {
		t.Fatal(err)
	}
	got := attemptsOf(c.rec.Requests())
	if len(got) != 2 || got[1] != "1:" || len(c.Invalidated()) == 0 {
		t.Fatalf("attempts = %v, invalidated %v", got, c.Invalidated())
	}
}

// TestShortReadTimeoutMovesOn: a read that times out under a short,
// caller-chosen timeout is retried on a follower at once (replica read),
// without a backoff and without marking the store down.
func TestShortReadTimeoutMovesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := threeReplicas(t)
		c.tikv.Always(pipelinetest.ForStore(1), pipelinetest.Fail(fmt.Errorf("%w", context.DeadlineExceeded)))
		start := time.Now()
		_, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{
			Context: &kvrpcpb.Context{MaxExecutionDurationMs: 500}, Key: []byte("k"),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := attemptsOf(c.rec.Requests())
		if len(got) != 2 || got[1][2:] != "r" || time.Since(start) != 0 || len(c.SendFailures()) != 0 {
			t.Fatalf("attempts = %v, slept %v, probes %d", got, time.Since(start), len(c.SendFailures()))
		}
	})
}

// TestWritesIgnoreReadOptions: read options never move a write off the
// leader.
func TestWritesIgnoreReadOptions(t *testing.T) {
	c, r := threeReplicas(t)
	put := Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{Cmd: transport.CmdRawPut, Idempotent: true}
	ctx := readCtx(ReadOptions{ReplicaRead: kv.ReplicaReadFollower, StaleRead: true})
	for range 5 {
		if _, err := Retry(c.env(), put)(ctx, r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("w")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range attemptsOf(c.rec.Requests()) {
		if a != "1:" {
			t.Fatalf("write attempts %v, want the leader only", attemptsOf(c.rec.Requests()))
		}
	}
}
