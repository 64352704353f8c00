package locate_test

import (
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// More ports of client-go internal/locate/region_request3_test.go.

// TestReplicaSelector ports client-go's TestReplicaSelector
// (internal/locate/region_request3_test.go), the parts tikvgo has (its
// forwarding part is the forwarding work's; its epoch-stale stores are
// client-go's store epochs, which tikvgo replaces with store liveness):
// a leader request keeps trying the leader up to its attempt limit (ten),
// then each follower once, then hands the region back invalidated; with
// the leader's store unreachable it goes to the followers at once; a
// NotLeader naming a peer on an unreachable store is not followed.
func TestReplicaSelector(t *testing.T) {
	stale := &errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}
	t.Run("leader then followers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(stale))}})
			_, err := h.prewrite(t.Context(), "key")
			if k := errKind(err); k != "noReplica" {
				t.Fatalf("%v (%s), want no replica left", err, k)
			}
			got := h.rec.take()
			want := []string{"1:", "1:", "1:", "1:", "1:", "1:", "1:", "1:", "1:", "1:", "x:", "y:"}
			if !matchPath(want, paths(got)) {
				t.Fatalf("path %v, want %v", paths(got), want)
			}
			if h.cached("key") {
				t.Fatal("the region was not invalidated")
			}
		})
	})
	t.Run("unreachable leader", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.markUnreachable(1)
			h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(notLeader(nil)))}})
			_, _ = h.prewrite(t.Context(), "key")
			got := h.rec.take()
			if len(got) == 0 || got[0].store == 1 {
				t.Fatalf("path %v: the unreachable leader was tried first", paths(got))
			}
			for _, a := range got {
				if a.store == 1 {
					t.Fatalf("path %v: the unreachable leader was tried", paths(got))
				}
			}
		})
	})
	t.Run("NotLeader naming an unreachable store", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.markUnreachable(2)
			h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 1, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(notLeader(h.peer("key", 2))))}})
			if _, err := h.prewrite(t.Context(), "key"); err != nil {
				t.Fatal(err)
			}
			got := h.rec.take()
			for _, a := range got {
				if a.store == 2 {
					t.Fatalf("path %v: followed a hint to an unreachable store", paths(got))
				}
			}
		})
	})
}
