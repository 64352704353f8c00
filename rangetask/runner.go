package rangetask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline"
)

// Stat counts the regions a handler (or a whole run) finished and gave up
// on (client-go's TaskStat).
type Stat struct {
	CompletedRegions int
	FailedRegions    int
}

func (s *Stat) add(o Stat) {
	s.CompletedRegions += o.CompletedRegions
	s.FailedRegions += o.FailedRegions
}

// Handler runs the task on r, a range that covered RegionsPerTask regions
// (fewer at the ends) when it was cut. It returns the regions it finished
// and failed. A non-fatal *kv.RegionError (in the error's chain) says its
// routing went stale: the runner re-cuts r against fresh region metadata
// and runs the handler on it again, so a handler may be run more than
// once on overlapping keys and must tolerate that. Any other error fails
// the run. It is called concurrently from several goroutines.
type Handler func(ctx context.Context, r kv.KeyRange) (Stat, error)

// Defaults of a Runner.
const (
	// DefaultRegionsPerTask is how many regions one handler call covers
	// (client-go's defaultRegionsPerTask).
	DefaultRegionsPerTask = 128
	// DefaultMaxRetries bounds how often one piece is re-run after stale
	// routing.
	DefaultMaxRetries = 10
)

// Option configures a Runner.
type Option func(*Runner)

// WithConcurrency sets how many handler calls run at once; zero or less
// keeps the Env's concurrency (pipeline.DefaultConcurrency when unset).
func WithConcurrency(n int) Option { return func(r *Runner) { r.concurrency = n } }

// WithRegionsPerTask sets how many regions one handler call covers (at
// least 1; client-go's SetRegionsPerTask).
func WithRegionsPerTask(n int) Option {
	return func(r *Runner) { r.regionsPerTask = max(n, 1) }
}

// WithMaxRetries bounds how often a piece is re-run after its handler
// reported stale routing; after that the region error fails the run.
func WithMaxRetries(n int) Option { return func(r *Runner) { r.maxRetries = max(n, 0) } }

// WithProgress makes the runner call f with the run's cumulative counts
// after every handler call (an Observer in the Env sees the same counts as
// observe.Progress events of the run's call), from the worker that made it (calls may
// overlap: f must be safe for concurrent use and quick).
func WithProgress(f func(Stat)) Option { return func(r *Runner) { r.progress = f } }

// Runner runs a Handler over key ranges (client-go's RangeTaskRunner). A
// Runner may run several ranges, one after another or at once; each Run
// counts its own regions. Its goroutines live only within Run.
type Runner struct {
	name           string
	env            *pipeline.Env
	handler        Handler
	concurrency    int
	regionsPerTask int
	maxRetries     int
	progress       func(Stat)
}

// New returns a runner named name (the observer sees each Run as a call
// of that name) that cuts ranges with env's Locator and runs h on each
// piece.
func New(name string, env *pipeline.Env, h Handler, opts ...Option) *Runner {
	r := &Runner{name: name, env: env, handler: h, regionsPerTask: DefaultRegionsPerTask, maxRetries: DefaultMaxRetries}
	for _, o := range opts {
		o(r)
	}
	if r.concurrency <= 0 {
		r.concurrency = env.Concurrency
	}
	if r.concurrency <= 0 {
		r.concurrency = pipeline.DefaultConcurrency
	}
	return r
}

// Run runs the handler over [start, end) (end empty: to the end of the
// key space) and returns the counts of the run. An empty or inverted range
// runs nothing. The first piece that fails for good (its handler's error,
// or stale routing past WithMaxRetries) stops the run: pieces not started
// are not run, and Run returns that error once the running ones return.
// When ctx ends Run stops the same way and returns ctx's error.
func (r *Runner) Run(ctx context.Context, start, end []byte) (st Stat, err error) {
	if len(end) > 0 && kv.CmpKey(start, end) >= 0 {
		return Stat{}, nil
	}
	ctx, finish := pipeline.BeginCall(ctx, r.env, r.name)
	defer func() { finish(err) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	run := &run{r: r}
	pieces := make(chan kv.KeyRange)
	var wg sync.WaitGroup
	for range r.concurrency {
		wg.Go(func() {
			for p := range pieces {
				if perr := run.piece(ctx, p); perr != nil {
					run.fail(perr)
					cancel()
				}
			}
		})
	}
	cutErr := r.cut(ctx, start, end, pieces)
	close(pieces)
	wg.Wait()
	st = run.stat()
	if err := run.firstErr(); err != nil {
		return st, err
	}
	if cutErr != nil {
		return st, cutErr
	}
	return st, ctx.Err()
}

// cut feeds out the pieces of [start, end), RegionsPerTask regions each,
// until the range is covered or ctx ends.
func (r *Runner) cut(ctx context.Context, start, end []byte, out chan<- kv.KeyRange) error {
	key := start
	for {
		regions, err := r.env.Locator.LoadRange(ctx, key, end, r.regionsPerTask)
		if err != nil {
			return fmt.Errorf("rangetask %s: load regions from %q: %w", r.name, key, err)
		}
		if len(regions) == 0 {
			return fmt.Errorf("rangetask %s: no region holds %q: %w", r.name, key, kv.ErrProtocol)
		}
		pieceEnd := regions[len(regions)-1].EndKey()
		last := len(pieceEnd) == 0 || (len(end) > 0 && kv.CmpKey(pieceEnd, end) >= 0)
		if last {
			pieceEnd = end
		}
		select {
		case out <- kv.KeyRange{Start: key, End: pieceEnd}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if last {
			return nil
		}
		key = pieceEnd
	}
}

// run is the shared state of one Run.
type run struct {
	r   *Runner
	mu  sync.Mutex
	st  Stat
	err error
}

func (u *run) stat() Stat {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

func (u *run) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *run) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
	}
}

// record adds a handler call's counts and reports the run's, to the
// progress callback and, as an observe.Progress event, to the observer.
func (u *run) record(ctx context.Context, s Stat) {
	u.mu.Lock()
	u.st.add(s)
	total := u.st
	u.mu.Unlock()
	if u.r.progress != nil {
		u.r.progress(total)
	}
	observe.Emit(ctx, observe.Event{Kind: observe.Progress, Done: total.CompletedRegions, Failed: total.FailedRegions})
}

// piece runs the handler on p, re-running it after stale routing; by then
// the handler's plans have told the Locator what changed, so the re-run
// routes by fresh region metadata.
func (u *run) piece(ctx context.Context, p kv.KeyRange) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := u.r.handler(ctx, p)
		var re *kv.RegionError
		if err == nil || !errors.As(err, &re) || re.Fatal || attempt >= u.r.maxRetries {
			u.record(ctx, s)
			if err != nil {
				return fmt.Errorf("rangetask %s: range [%q, %q): %w", u.r.name, p.Start, p.End, err)
			}
			return nil
		}
		// The re-run covers the whole piece again and counts its regions:
		// the counts of the stale attempt are dropped.
		if err := sleep(ctx, retryDelay(attempt)); err != nil {
			return err
		}
	}
}

// retryDelay is the pause before re-running a piece: PD and TiKV need a
// moment to agree on a region that just split or moved (client-go backs
// off with its regionMiss policy, 2 ms doubling).
func retryDelay(attempt int) time.Duration {
	return min(2*time.Millisecond<<min(attempt, 8), 500*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
