package soak_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

var (
	soakCycles = flag.Int("soak.cycles", 300, "Connect + Put + Close cycles of TestConnectPutCloseSoak")
	profileDir = flag.String("soak.profiledir", "", "directory for heap profiles at the first and last checkpoint")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Slack allowed over the idle process once it has settled: a closed
// gRPC connection's server side may still be tearing down at a checkpoint,
// but a real leak grows with the cycle count and passes any constant.
const (
	goroutineSlack = 2
	fdSlack        = 2
	settleTimeout  = 10 * time.Second
)

// soakKey is rewritten by every cycle, so the mock's data does not grow
// with the cycle count and any heap growth is the connections' own.
var soakKey = []byte("soak")

// TestConnectPutCloseSoak is issue #8's acceptance: cycles of Connect, one
// Put and Close against mocktikv over gRPC must not panic nor grow the
// goroutine or descriptor count; it reports the heap each cycle retains.
func TestConnectPutCloseSoak(t *testing.T) {
	n := *soakCycles
	if n < 20 {
		t.Fatalf("-soak.cycles must be at least 20, got %d", n)
	}
	mock := mocktikv.Start(t)
	addrs := mock.PDAddrs()
	servers := map[string]string{addrs[0]: "PD"}
	for _, id := range mock.StoreIDs() {
		servers[mock.StoreAddr(id)] = fmt.Sprintf("store %d", id)
	}

	// Goroutines and fds are held to the idle process: the mock serving
	// and no client yet. A closed Cluster must leave nothing behind.
	idle := settleStable(t)
	t.Logf("idle: %s; TCP sockets %v", idle, socketsByPeer(servers))
	held := func(cycles int, s snapshot) {
		t.Helper()
		if s.goroutines > idle.goroutines+goroutineSlack || s.fds > idle.fds+fdSlack {
			t.Fatalf("after %d cycles the process holds %d goroutines and %d fds; idle %d and %d (slack %d, %d); TCP sockets %v\n%s",
				cycles, s.goroutines, s.fds, idle.goroutines, idle.fds, goroutineSlack, fdSlack, socketsByPeer(servers), goroutineDump())
		}
	}

	// Warm-up: the first connections create gRPC's and the PD client's
	// process-wide state (codecs, balancers, metrics), which is paid once;
	// the heap is measured from here.
	warm := max(n/20, 10)
	for i := range warm {
		cycle(t, addrs, i)
	}
	base := settleTo(idle.goroutines+goroutineSlack, idle.fds+fdSlack)
	writeHeapProfile(t, "heap-base.pprof")
	t.Logf("baseline after %d warm-up cycles: %s", warm, base)
	held(warm, base)

	const checkpoints = 10
	step := max((n-warm+checkpoints-1)/checkpoints, 1)
	prev, prevCycle := base, warm
	var busy time.Duration // time spent in cycles, checkpoints excluded
	for i := warm; i < n; {
		end := min(i+step, n)
		start := time.Now()
		for ; i < end; i++ {
			cycle(t, addrs, i)
		}
		busy += time.Since(start)
		s := settleTo(idle.goroutines+goroutineSlack, idle.fds+fdSlack)
		t.Logf("cycle %6d: %s; heap since baseline %+.0f B/cycle, since last checkpoint %+.0f B/cycle",
			i, s, perCycle(s.heapAlloc, base.heapAlloc, i-warm), perCycle(s.heapAlloc, prev.heapAlloc, i-prevCycle))
		held(i, s)
		prev, prevCycle = s, i
	}
	writeHeapProfile(t, "heap-end.pprof")
	measured := n - warm
	t.Logf("%d cycles measured in %v: %.1f cycles/s; goroutines %d -> %d, fds %d -> %d, HeapAlloc %+.0f B/cycle, HeapInuse %+.0f B/cycle",
		measured, busy.Round(time.Millisecond), float64(measured)/busy.Seconds(),
		idle.goroutines, prev.goroutines, idle.fds, prev.fds,
		perCycle(prev.heapAlloc, base.heapAlloc, measured), perCycle(prev.heapInuse, base.heapInuse, measured))

	// Every Put was applied: the key holds the last cycle's value.
	c := connect(t, addrs)
	defer c.Close()
	got, err := raw.NewClient(c).Get(t.Context(), soakKey)
	if err != nil {
		t.Fatalf("Get after %d cycles: %v", n, err)
	}
	if want := cycleValue(n - 1); !bytes.Equal(got, want) {
		t.Fatalf("Get after %d cycles = %x, want %x (the last cycle's Put)", n, got, want)
	}
}

// cycle runs one Connect + Put + Close, writing i's value.
func cycle(t *testing.T, addrs []string, i int) {
	t.Helper()
	c := connect(t, addrs)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := raw.NewClient(c).Put(ctx, soakKey, cycleValue(i)); err != nil {
		c.Close()
		t.Fatalf("cycle %d: Put: %v", i, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("cycle %d: Close: %v", i, err)
	}
}

func connect(t *testing.T, addrs []string) *tikv.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := tikv.Connect(ctx, addrs)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func cycleValue(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func perCycle(now, then uint64, cycles int) float64 {
	if cycles <= 0 {
		return 0
	}
	return (float64(now) - float64(then)) / float64(cycles)
}

func writeHeapProfile(t *testing.T, name string) {
	t.Helper()
	if *profileDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(*profileDir, name))
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatalf("heap profile: %v", err)
	}
}
