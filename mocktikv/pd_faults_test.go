package mocktikv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestFailPDScript(t *testing.T) {
	c := NewCluster()
	pd := c.PD()
	ctx := context.Background()
	errA, errB, errC := errors.New("a"), errors.New("b"), errors.New("c")
	c.FailPD("Tso", errA, 1)
	c.FailPD("Tso", errB, 2)
	for i, want := range []error{errA, errB, errB, nil} {
		_, _, err := pd.GetTS(ctx)
		if !errors.Is(err, want) {
			t.Fatalf("call %d: err %v, want %v", i, err, want)
		}
	}

	// count <= 0 fails for good, until cleared.
	c.FailPD("GetAllStores", errC, 0)
	for range 3 {
		if _, err := pd.GetAllStores(ctx); !errors.Is(err, errC) {
			t.Fatalf("permanent failure: %v", err)
		}
	}
	c.ClearPDFaults()
	must(pd.GetAllStores(ctx))(t)

	// A nil error clears one method's script; others keep theirs.
	c.FailPD("GetStore", errA, 0)
	c.FailPD("QueryRegion", errB, 0)
	c.FailPD("GetStore", nil, 0)
	must(pd.GetStore(ctx, c.StoreIDs()[0]))(t)
	if _, err := pd.GetRegion(ctx, nil); !errors.Is(err, errB) {
		t.Fatalf("GetRegion goes by QueryRegion, as the real client's: %v", err)
	}
}

func TestDelayPDServesStaleAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCluster()
		c.DelayPD("QueryRegion", 10*time.Second)
		start := time.Now()
		type result struct {
			startKey []byte
			err      error
		}
		done := make(chan result)
		go func() {
			r, err := c.PD().GetRegion(context.Background(), []byte("k"))
			done <- result{r.Meta.GetStartKey(), err}
		}()
		synctest.Wait() // the answer is computed and waiting out the delay
		must(c.Split([]byte("c")))(t)
		res := <-done
		noErr(t, res.err)
		eq(t, time.Since(start), 10*time.Second, "delay")
		eqBytes(t, res.startKey, nil, "the answer predates the split")

		// The caller giving up ends the delay.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.PD().GetRegion(ctx, []byte("k")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("delayed past the deadline: %v", err)
		}
		c.DelayPD("QueryRegion", 0)
		start = time.Now()
		must(c.PD().GetRegion(context.Background(), []byte("k")))(t)
		eq(t, time.Since(start), time.Duration(0), "no delay once removed")
	})
}

func TestPauseTSOLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCluster()
		c.PauseTSO()
		c.PauseTSO() // no-op
		got := make(chan error, 1)
		go func() {
			_, _, err := c.PD().GetTS(context.Background())
			got <- err
		}()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("GetTS returned while paused: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, _, err := c.PD().GetTS(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("paused GetTS with a deadline: %v", err)
		}
		c.ResumeTSO()
		noErr(t, <-got)
		c.ResumeTSO() // no-op
		must3(c.PD().GetTS(context.Background()))(t)
	})
}

func must3(_, _ int64, err error) func(testing.TB) {
	return func(t testing.TB) {
		t.Helper()
		noErr(t, err)
	}
}

func TestPDFaultsRealClient(t *testing.T) {
	c := Start(t, WithStores(2))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := c.StoreIDs()[0]

	t.Run("unary", func(t *testing.T) {
		c.FailPD("GetStore", status.Error(codes.Unavailable, "injected"), 1)
		_, err := cli.GetStore(ctx, id)
		if !containsCode(err, codes.Unavailable) {
			t.Fatalf("first GetStore: %v, want Unavailable", err)
		}
		must(cli.GetStore(ctx, id))(t)
	})
	t.Run("delay", func(t *testing.T) {
		c.DelayPD("GetAllStores", 200*time.Millisecond)
		defer c.DelayPD("GetAllStores", 0)
		start := time.Now()
		must(cli.GetAllStores(ctx))(t)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("GetAllStores took %v, want the 200ms delay", d)
		}
	})
	t.Run("tso failure", func(t *testing.T) {
		must3(cli.GetTS(ctx))(t) // the stream is up
		c.FailPD("Tso", status.Error(codes.Unavailable, "injected"), 1)
		if _, _, err := cli.GetTS(ctx); err == nil {
			t.Fatal("GetTS: want the injected failure")
		}
		// The client reconnects the stream and carries on.
		must3(cli.GetTS(ctx))(t)
	})
	t.Run("tso pause", func(t *testing.T) {
		c.PauseTSO()
		short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancelShort()
		if _, _, err := cli.GetTS(short); err == nil {
			c.ResumeTSO()
			t.Fatal("GetTS while paused: want a timeout")
		}
		c.ResumeTSO()
		must3(cli.GetTS(ctx))(t)
	})
}

// containsCode reports whether err carries the gRPC code (the PD client
// wraps errors with stacks, which hides the status from status.Code).
func containsCode(err error, code codes.Code) bool {
	return err != nil && (status.Code(err) == code || strings.Contains(err.Error(), "code = "+code.String()))
}
