package rangetask_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/rangetask"
)

// azCluster is the layout of client-go's range_task_test: transactional
// regions split at every letter a..z. It returns the txn Env.
func azCluster(t *testing.T) *pipeline.Env {
	t.Helper()
	mock := mocktikv.NewCluster()
	for k := byte('a'); k <= 'z'; k++ {
		if _, err := mock.SplitTxn([]byte{k}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		mock.Close()
	})
	return c.EnvFor(kv.ModeTxn)
}

func rng(s, e string) kv.KeyRange { return kv.KeyRange{Start: kv.Key(s), End: kv.Key(e)} }

// allRegions are the regions of azCluster.
func allRegions() []kv.KeyRange {
	out := []kv.KeyRange{rng("", "a")}
	for k := byte('a'); k < 'z'; k++ {
		out = append(out, rng(string(k), string(k+1)))
	}
	return append(out, rng("z", ""))
}

// rangeCases are client-go's testRanges with their expected per-region
// pieces.
func rangeCases() []struct {
	in   kv.KeyRange
	want []kv.KeyRange
} {
	all := allRegions()
	return []struct {
		in   kv.KeyRange
		want []kv.KeyRange
	}{
		{rng("", ""), all},
		{rng("", "b"), all[:2]},
		{rng("b", ""), all[2:]},
		{rng("b", "x"), all[2:24]},
		{rng("a", "d"), []kv.KeyRange{rng("a", "b"), rng("b", "c"), rng("c", "d")}},
		{rng("a\x00", "d\x00"), []kv.KeyRange{rng("a\x00", "b"), rng("b", "c"), rng("c", "d"), rng("d", "d\x00")}},
		{rng("a\xff\xff\xff", "c\xff\xff\xff"), []kv.KeyRange{rng("a\xff\xff\xff", "b"), rng("b", "c"), rng("c", "c\xff\xff\xff")}},
		{rng("a1", "a2"), []kv.KeyRange{rng("a1", "a2")}},
		{rng("a", "a"), nil},
		{rng("a3", "a3"), nil},
	}
}

// batch merges consecutive pieces n at a time (client-go's batchRanges).
func batch(ranges []kv.KeyRange, n int) []kv.KeyRange {
	var out []kv.KeyRange
	for i := 0; i < len(ranges); i += n {
		last := min(i+n, len(ranges)) - 1
		out = append(out, kv.KeyRange{Start: ranges[i].Start, End: ranges[last].End})
	}
	return out
}

func sortRanges(rs []kv.KeyRange) {
	slices.SortFunc(rs, func(a, b kv.KeyRange) int { return bytes.Compare(a.Start, b.Start) })
}

func rangesString(rs []kv.KeyRange) string {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "[%q,%q) ", r.Start, r.End)
	}
	return b.String()
}

// TestRangeTask ports client-go integration_tests/range_task_test.go
// TestRangeTask: for concurrency 1..4 and 1..5 regions per task, each test
// range is handed to the handler as exactly the expected region batches,
// and the run counts one completed region per handler call.
func TestRangeTask(t *testing.T) {
	env := azCluster(t)
	for concurrency := 1; concurrency < 5; concurrency++ {
		for perTask := 1; perTask <= 5; perTask++ {
			for _, c := range rangeCases() {
				var mu sync.Mutex
				var got []kv.KeyRange
				h := func(_ context.Context, r kv.KeyRange) (rangetask.Stat, error) {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, r)
					return rangetask.Stat{CompletedRegions: 1}, nil
				}
				run := rangetask.New("test-runner", env, h, rangetask.WithConcurrency(concurrency), rangetask.WithRegionsPerTask(perTask))
				st, err := run.Run(context.Background(), c.in.Start, c.in.End)
				if err != nil {
					t.Fatalf("run %v: %v", c.in, err)
				}
				want := batch(c.want, perTask)
				sortRanges(got)
				if rangesString(got) != rangesString(want) {
					t.Fatalf("concurrency %d, %d per task, range [%q,%q):\n got  %s\n want %s",
						concurrency, perTask, c.in.Start, c.in.End, rangesString(got), rangesString(want))
				}
				if st != (rangetask.Stat{CompletedRegions: len(want)}) {
					t.Fatalf("stat %+v, want %d completed", st, len(want))
				}
			}
		}
	}
}

// TestRangeTaskError ports client-go's TestRangeTaskError: a handler that
// fails on one piece fails the run with its error, that piece is counted
// failed, and not every piece completes.
func TestRangeTaskError(t *testing.T) {
	env := azCluster(t)
	boom := errors.New("test error")
	for concurrency := 1; concurrency < 5; concurrency++ {
		for _, c := range rangeCases() {
			for _, sub := range c.want {
				errKey := sub.Start
				h := func(_ context.Context, r kv.KeyRange) (rangetask.Stat, error) {
					if bytes.Equal(r.Start, errKey) {
						return rangetask.Stat{FailedRegions: 1}, boom
					}
					return rangetask.Stat{CompletedRegions: 1}, nil
				}
				run := rangetask.New("test-error-runner", env, h, rangetask.WithConcurrency(concurrency), rangetask.WithRegionsPerTask(1))
				st, err := run.Run(context.Background(), c.in.Start, c.in.End)
				if !errors.Is(err, boom) {
					t.Fatalf("range [%q,%q) failing at %q: err %v, want the handler's", c.in.Start, c.in.End, errKey, err)
				}
				if st.FailedRegions != 1 || st.CompletedRegions >= len(c.want) {
					t.Fatalf("range [%q,%q) failing at %q: stat %+v of %d pieces", c.in.Start, c.in.End, errKey, st, len(c.want))
				}
			}
		}
	}
}

// TestRangeTaskRetriesRegionError: a piece whose handler reports stale
// routing (a non-fatal *kv.RegionError) is run again and then counts
// once; a fatal one fails the run at once; past WithMaxRetries the region
// error is the run's.
func TestRangeTaskRetriesRegionError(t *testing.T) {
	env := azCluster(t)
	stale := &kv.RegionError{RegionID: 7, Err: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}}
	var calls atomic.Int32
	h := func(_ context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		if string(r.Start) == "c" && calls.Add(1) <= 2 {
			return rangetask.Stat{FailedRegions: 1}, fmt.Errorf("scan: %w", stale)
		}
		return rangetask.Stat{CompletedRegions: 1}, nil
	}
	st, err := rangetask.New("retry", env, h, rangetask.WithRegionsPerTask(1)).Run(context.Background(), []byte("a"), []byte("f"))
	if err != nil || st != (rangetask.Stat{CompletedRegions: 5}) || calls.Load() != 3 {
		t.Fatalf("stat %+v, err %v, calls at c %d; want 5 completed, nil, 3", st, err, calls.Load())
	}

	calls.Store(0)
	_, err = rangetask.New("retry", env, h, rangetask.WithRegionsPerTask(1), rangetask.WithMaxRetries(1)).Run(context.Background(), []byte("a"), []byte("f"))
	var re *kv.RegionError
	if !errors.As(err, &re) || calls.Load() != 2 {
		t.Fatalf("max retries 1: err %v after %d calls, want the region error after 2", err, calls.Load())
	}

	fatal := &kv.RegionError{RegionID: 7, Err: &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, Fatal: true}
	calls.Store(0)
	hf := func(_ context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		if string(r.Start) == "c" {
			calls.Add(1)
			return rangetask.Stat{FailedRegions: 1}, fatal
		}
		return rangetask.Stat{CompletedRegions: 1}, nil
	}
	st, err = rangetask.New("fatal", env, hf, rangetask.WithRegionsPerTask(1)).Run(context.Background(), []byte("a"), []byte("f"))
	if !errors.As(err, &re) || calls.Load() != 1 || st.FailedRegions != 1 {
		t.Fatalf("fatal: err %v, %d calls, stat %+v; want it once, failed", err, calls.Load(), st)
	}
}

// TestRangeTaskProgressAndCancel: progress reports grow to the final
// counts; a context cancelled from a handler stops the run with the
// context's error before every piece ran.
func TestRangeTaskProgressAndCancel(t *testing.T) {
	env := azCluster(t)
	var mu sync.Mutex
	var reports []rangetask.Stat
	progress := func(s rangetask.Stat) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, s)
	}
	ok := func(context.Context, kv.KeyRange) (rangetask.Stat, error) {
		return rangetask.Stat{CompletedRegions: 1}, nil
	}
	st, err := rangetask.New("progress", env, ok, rangetask.WithRegionsPerTask(2), rangetask.WithProgress(progress)).Run(context.Background(), nil, nil)
	if err != nil || st.CompletedRegions != 14 {
		t.Fatalf("stat %+v, err %v; want 14 pieces of 2 regions", st, err)
	}
	mu.Lock()
	n := len(reports)
	maxDone := 0
	for _, r := range reports {
		maxDone = max(maxDone, r.CompletedRegions)
	}
	mu.Unlock()
	if n != 14 || maxDone != 14 {
		t.Fatalf("%d progress reports reaching %d; want 14 reaching 14", n, maxDone)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran atomic.Int32
	stopper := func(context.Context, kv.KeyRange) (rangetask.Stat, error) {
		if ran.Add(1) == 3 {
			cancel()
		}
		return rangetask.Stat{CompletedRegions: 1}, nil
	}
	st, err = rangetask.New("cancel", env, stopper, rangetask.WithConcurrency(1), rangetask.WithRegionsPerTask(1)).Run(ctx, nil, nil)
	if !errors.Is(err, context.Canceled) || st.CompletedRegions >= 28 || ran.Load() >= 28 {
		t.Fatalf("cancelled run: err %v, stat %+v, %d handler calls; want context.Canceled before 28", err, st, ran.Load())
	}
}
