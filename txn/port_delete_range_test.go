package txn_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// deleteRangeCluster is the layout of client-go's delete_range_test:
// regions (-inf, b), [b, c), [c, d), [d, +inf) and the committed keys
// a0..d9 with random values, plus "zz" beyond z (which only an unbounded
// end reaches). It returns the cluster and the expected contents.
func deleteRangeCluster(t *testing.T, grpc bool) (*portCluster, map[string]string) {
	t.Helper()
	p := newPortCluster(t, grpc, nil)
	for _, at := range []string{"b", "c", "d"} {
		if _, err := p.mock.SplitTxn([]byte(at)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	var pairs []string
	for _, i := range "abcd" {
		for j := '0'; j <= '9'; j++ {
			k, v := string(i)+string(j), fmt.Sprintf("%02x", rand.N(256))
			want[k] = v
			pairs = append(pairs, k, v)
		}
	}
	want["zz"] = "end"
	// Written whole (not by a Txn, whose secondaries commit in the
	// background) so that every key is readable at once.
	p.write(append(pairs, "zz", "end")...)
	p.checkContents(want)
	return p, want
}

// checkContents fails the test unless a fresh transaction scans exactly
// want over the whole key space.
func (p *portCluster) checkContents(want map[string]string) {
	p.t.Helper()
	got, err := collect(p.begin().Iter(shortCtx(p.t), nil, nil))
	if err != nil {
		p.t.Fatalf("scan: %v", err)
	}
	var expect []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		expect = append(expect, k+"="+want[k])
	}
	if !slices.Equal(got, expect) {
		p.t.Fatalf("contents:\n got  %v\n want %v", got, expect)
	}
}

// deleteFromMap removes [start, end) from m (end empty: unbounded).
func deleteFromMap(m map[string]string, start, end string) {
	for k := range m {
		if k >= start && (end == "" || k < end) {
			delete(m, k)
		}
	}
}

// TestPortDeleteRange ports client-go integration_tests/delete_range_test.go
// TestDeleteRange (the txn half of scenario S40), in-process and over
// gRPC: on regions (-inf,b),[b,c),[c,d),[d,+inf), DeleteRange removes
// exactly [start, end) and reports the regions it sent to: [b,c0) 2,
// [d0,d0) 0, [d0\0,d1\0) 1, [c5,d5) 2, [a,z) 4, (nil,nil) 4 (which also
// removes "zz": the unbounded end reaches past every written key).
func TestPortDeleteRange(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "grpc"}[grpc], func(t *testing.T) {
			p, want := deleteRangeCluster(t, grpc)
			for _, c := range []struct {
				start, end string
				regions    int
			}{
				{"b", "c0", 2},
				{"d0", "d0", 0},
				{"d0\x00", "d1\x00", 1},
				{"c5", "d5", 2},
				{"a", "z", 4},
				{"", "", 4},
			} {
				var start, end []byte
				if c.start != "" {
					start = []byte(c.start)
				}
				if c.end != "" {
					end = []byte(c.end)
				}
				n, err := p.client.DeleteRange(shortCtx(t), start, end, txn.WithDeleteRangeConcurrency(1))
				if err != nil || n != c.regions {
					t.Fatalf("DeleteRange [%q, %q) = %d, %v; want %d regions", c.start, c.end, n, err, c.regions)
				}
				deleteFromMap(want, c.start, c.end)
				p.checkContents(want)
			}
			if len(want) != 0 {
				t.Fatalf("keys left after deleting everything: %v", want)
			}
		})
	}
}

// TestDeleteRangeRejectsInvertedRange: start > end is an invalid argument
// and nothing is sent.
func TestDeleteRangeRejectsInvertedRange(t *testing.T) {
	p, _ := deleteRangeCluster(t, false)
	p.log.take()
	n, err := p.client.DeleteRange(shortCtx(t), []byte("c"), []byte("b"))
	if !errors.Is(err, kv.ErrInvalidArgument) || n != 0 {
		t.Fatalf("DeleteRange [c, b) = %d, %v; want kv.ErrInvalidArgument", n, err)
	}
	if sent := p.log.take(); len(sent) != 0 {
		t.Fatalf("sent %v for an inverted range", sent)
	}
}

// TestDeleteRangeResplitsStaleRouting: a region split after the client
// cached the layout makes the piece fail with EpochNotMatch; DeleteRange
// re-splits it and deletes from both halves, counting each.
func TestDeleteRangeResplitsStaleRouting(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "grpc"}[grpc], func(t *testing.T) {
			p, want := deleteRangeCluster(t, grpc) // the scan loaded every region
			if _, err := p.mock.SplitTxn([]byte("c5")); err != nil {
				t.Fatal(err)
			}
			p.log.take()
			n, err := p.client.DeleteRange(shortCtx(t), []byte("c"), []byte("d"))
			if err != nil || n != 2 {
				t.Fatalf("DeleteRange [c, d) = %d, %v; want 2 regions", n, err)
			}
			if got := countCmd(p.log.take(), transport.CmdDeleteRange); got != 3 {
				t.Fatalf("sent %d KvDeleteRange, want 3 (stale, then both halves)", got)
			}
			deleteFromMap(want, "c", "d")
			p.checkContents(want)
		})
	}
}

// TestDeleteRangeResendsAfterLostResponse: a KvDeleteRange applied whose
// response was lost is sent again (a repeat on the emptied range deletes
// nothing), so the call succeeds with the range gone.
func TestDeleteRangeResendsAfterLostResponse(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "grpc"}[grpc], func(t *testing.T) {
			p, want := deleteRangeCluster(t, grpc)
			lost := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdDeleteRange,
				Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.LoseResponse(errors.New("response lost")))}})
			n, err := p.client.DeleteRange(shortCtx(t), []byte("b"), []byte("c"))
			if err != nil || n != 1 {
				t.Fatalf("DeleteRange [b, c) = %d, %v; want 1 region", n, err)
			}
			if lost.Hits() != 1 {
				t.Fatalf("lost-response fault hit %d times, want 1", lost.Hits())
			}
			deleteFromMap(want, "b", "c")
			p.checkContents(want)
		})
	}
}

// TestDeleteRangeNotifyOnly: WithDeleteRangeNotifyOnly sends to every
// region and deletes nothing.
func TestDeleteRangeNotifyOnly(t *testing.T) {
	p, want := deleteRangeCluster(t, false)
	n, err := p.client.DeleteRange(shortCtx(t), nil, nil, txn.WithDeleteRangeNotifyOnly())
	if err != nil || n != 4 {
		t.Fatalf("notify-only DeleteRange = %d, %v; want 4 regions", n, err)
	}
	p.checkContents(want)
}

// TestDeleteRangeReportsRegionFailure: when one region's request fails
// for good (RaftEntryTooLarge, which no retry cures) the call fails with
// 0 regions and a *kv.RegionError naming that region.
func TestDeleteRangeReportsRegionFailure(t *testing.T) {
	p, _ := deleteRangeCluster(t, false)
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdDeleteRange, Key: []byte("c"),
		Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(&errorpb.Error{
			Message: "raft entry is too large", RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}))}})
	n, err := p.client.DeleteRange(shortCtx(t), []byte("a"), []byte("z"))
	var rerr *kv.RegionError
	if !errors.As(err, &rerr) || rerr.Err.GetRaftEntryTooLarge() == nil || n != 0 {
		t.Fatalf("DeleteRange = %d, %v; want 0 and the RaftEntryTooLarge region error", n, err)
	}
}

// TestDeleteRangeKeyspace: in a keyspace (API v2) DeleteRange(nil, nil)
// empties the client's keyspace only (its bounds become the keyspace's
// prefixes, which TiKV's range mode check accepts), and another
// keyspace's keys, written under the same user keys, stay; in-process and
// over gRPC.
func TestDeleteRangeKeyspace(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "grpc"}[grpc], func(t *testing.T) {
			mockOpts := []mocktikv.Option{mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2),
				mocktikv.WithKeyspace("ks1"), mocktikv.WithKeyspace("ks2")}
			var mock *mocktikv.Cluster
			if grpc {
				mock = mocktikv.Start(t, mockOpts...)
			} else {
				mock = mocktikv.NewCluster(mockOpts...)
				t.Cleanup(mock.Close)
			}
			connect := func(keyspace string) *portCluster {
				var cluster *tikv.Cluster
				var err error
				if grpc {
					cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithKeyspace(keyspace))
				} else {
					cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
						tikv.WithKeyspace(keyspace))
				}
				if err != nil {
					t.Fatalf("connect %s: %v", keyspace, err)
				}
				client := txn.NewClient(cluster)
				t.Cleanup(func() {
					if err := client.Close(context.Background()); err != nil {
						t.Errorf("close: %v", err)
					}
					cluster.Close()
				})
				p := &portCluster{testCluster: newTestCluster(t, mock, cluster), client: client}
				p.write("a", "1", "m", "2", "zz", "3")
				return p
			}
			ks1, ks2 := connect("ks1"), connect("ks2")
			n, err := ks1.client.DeleteRange(shortCtx(t), nil, nil)
			if err != nil || n != 1 {
				t.Fatalf("DeleteRange in ks1 = %d, %v; want its 1 region", n, err)
			}
			ks1.checkContents(map[string]string{})
			ks2.checkContents(map[string]string{"a": "1", "m": "2", "zz": "3"})
		})
	}
}

// TestDeleteRangeConcurrency: WithDeleteRangeConcurrency(2) has at most
// two regions' requests in flight: with every KvDeleteRange held at a
// gate, exactly two are waiting once nothing else can run (a synctest
// bubble makes that state certain), and the call completes all four
// regions once they are let through. After Close it fails with
// kv.ErrClosed.
func TestDeleteRangeConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := deleteRangeCluster(t, false)
		gate := mocktikv.NewGate()
		t.Cleanup(gate.Open)
		p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdDeleteRange, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := p.client.DeleteRange(context.Background(), nil, nil, txn.WithDeleteRangeConcurrency(2))
			done <- result{n, err}
		}()
		synctest.Wait()
		if w := gate.Waiting(); w != 2 {
			t.Fatalf("%d KvDeleteRange in flight, want 2", w)
		}
		gate.Open()
		if r := <-done; r.err != nil || r.n != 4 {
			t.Fatalf("DeleteRange = %d, %v; want 4 regions", r.n, r.err)
		}
		p.checkContents(map[string]string{})
		if err := p.client.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.DeleteRange(context.Background(), nil, nil); !errors.Is(err, kv.ErrClosed) {
			t.Fatalf("DeleteRange after Close = %v, want kv.ErrClosed", err)
		}
	})
}
