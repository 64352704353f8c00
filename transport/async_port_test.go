package transport

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
)

// queueExecutor is an Executor (and, through spawn, a Spawner) that only
// queues: the test runs the queued functions when it chooses.
type queueExecutor struct {
	mu    sync.Mutex
	tasks []func()
}

func (e *queueExecutor) Submit(f func()) {
	e.mu.Lock()
	e.tasks = append(e.tasks, f)
	e.mu.Unlock()
}

func (e *queueExecutor) spawn(ctx context.Context, f func(context.Context)) bool {
	e.Submit(func() { f(ctx) })
	return true
}

func (e *queueExecutor) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

func (e *queueExecutor) run(i int) {
	e.mu.Lock()
	f := e.tasks[i]
	e.mu.Unlock()
	f()
}

// SendAsync over a synchronous sender runs Send on a plain goroutine when
// ctx carries no Spawner, and on the Spawner's when it does: nothing runs
// until that owner runs the function.
//
// ports client-go's TestGo (util/async/runloop_test.go): RunLoop.Go with
// and without a pool is our SendAsync with and without a Spawner.
func TestSendAsyncGoesThroughSpawner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := SenderFunc(func(ctx context.Context, req *Request) (*Response, error) {
			return &Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte("x")}}, nil
		})
		got := make(chan string, 2)
		cb := func(resp *Response, err error) {
			require.NoError(t, err)
			got <- string(resp.Msg.(*kvrpcpb.RawGetResponse).Value)
		}
		SendAsync(context.Background(), s, &Request{Cmd: CmdRawGet}, cb)
		require.Equal(t, "x", <-got)

		var e queueExecutor
		SendAsync(WithSpawner(context.Background(), e.spawn), s, &Request{Cmd: CmdRawGet}, cb)
		synctest.Wait()
		require.Equal(t, 1, e.len())
		require.Empty(t, got, "sent before the spawner ran it")
		e.run(0)
		require.Equal(t, "x", <-got)
	})
}

// Exec with nothing queued waits for a Submit from elsewhere, runs it and
// returns with the loop idle.
//
// ports client-go's TestExecWait (util/async/runloop_test.go)
func TestRunLoopExecWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l RunLoop
		var list []int
		time.AfterFunc(time.Millisecond, func() { l.Submit(func() { list = append(list, 1) }) })
		n, err := l.Exec(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 0, l.Pending())
		require.Equal(t, []int{1}, list)
	})
}

// A function that submits another is followed by it in the same Exec.
//
// ports client-go's TestExecOnce (util/async/runloop_test.go)
func TestRunLoopExecOnce(t *testing.T) {
	var l RunLoop
	var list []int
	l.Submit(func() {
		l.Submit(func() { list = append(list, 2) })
		list = append(list, 1)
	})
	n, err := l.Exec(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 0, l.Pending())
	require.Equal(t, []int{1, 2}, list)
}

// Exec returns once the queue is empty; what is submitted later (here by
// a timer a function started) is run by the next Exec, which waits for it.
//
// ports client-go's TestExecTwice (util/async/runloop_test.go)
func TestRunLoopExecTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l RunLoop
		var list []int
		l.Submit(func() {
			time.AfterFunc(time.Millisecond, func() { l.Submit(func() { list = append(list, 2) }) })
			list = append(list, 1)
		})
		n, err := l.Exec(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, []int{1}, list)
		n, err = l.Exec(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 0, l.Pending())
		require.Equal(t, []int{1, 2}, list)
	})
}

// A function that cancels Exec's context stops it before the next one,
// which stays queued.
//
// ports client-go's TestExecCancelWhileRunning (util/async/runloop_test.go)
func TestRunLoopExecCancelWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var l RunLoop
	var list []int
	l.Submit(func() { cancel(); list = append(list, 1) })
	l.Submit(func() { list = append(list, 2) })
	n, err := l.Exec(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, n)
	require.Equal(t, 1, l.Pending())
	require.Equal(t, []int{1}, list)
}

// Exec waiting on an empty queue returns ctx's error when it ends.
//
// ports client-go's TestExecCancelWhileWaiting (util/async/runloop_test.go)
func TestRunLoopExecCancelWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var l RunLoop
		time.AfterFunc(time.Millisecond, cancel)
		n, err := l.Exec(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 0, n)
		require.Equal(t, 0, l.Pending())
	})
}

// A second Exec while one runs is refused without running anything.
//
// ports client-go's TestExecConcurrent (util/async/runloop_test.go)
func TestRunLoopExecConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l RunLoop
		l.Submit(func() { time.Sleep(time.Millisecond) })
		done := make(chan int)
		go func() {
			n, err := l.Exec(context.Background())
			require.NoError(t, err)
			done <- n
		}()
		synctest.Wait() // the first Exec is asleep inside the function
		runtime.Gosched()
		n, err := l.Exec(context.Background())
		require.ErrorIs(t, err, ErrRunLoopBusy)
		require.Equal(t, 0, n)
		require.Equal(t, 1, <-done)
	})
}

// Layers' After halves wrap the callback: the innermost layer's runs
// first, so the outermost sees the outcome last, on the asynchronous path
// as on the synchronous one.
//
// ports client-go's TestInjectOrder (util/async/core_test.go): Callback.Inject
// is our Around's After.
func TestAroundAfterOrder(t *testing.T) {
	var mu sync.Mutex
	var order []int
	layer := func(i int) Middleware {
		return Around(func(ctx context.Context, req *Request) (context.Context, *Request, After, error) {
			return ctx, req, func(resp *Response, err error) (*Response, error) {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return resp, err
			}, nil
		})
	}
	base := SenderFuncs{
		SendFunc: func(ctx context.Context, req *Request) (*Response, error) { return &Response{}, nil },
		SendAsyncFunc: func(ctx context.Context, req *Request, cb Callback) {
			cb(&Response{}, nil)
		},
	}
	chain := Chain(base, layer(3), layer(2), layer(1))
	done := make(chan struct{})
	SendAsync(context.Background(), chain, &Request{Cmd: CmdRawGet}, func(*Response, error) { close(done) })
	<-done
	require.Equal(t, []int{1, 2, 3}, order)
	order = nil
	_, err := chain.Send(context.Background(), &Request{Cmd: CmdRawGet})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, order)
}

// OnExecutor defers the callback to the executor: calling the returned
// function only queues it, and the callback runs when the executor runs
// it; a nil executor runs it in place.
//
// ports client-go's TestFulfillOnce "ScheduleTwice"/"ScheduleInvoke"
// half (util/async/core_test.go), Callback.Schedule being our OnExecutor;
// the exactly-once half is TestSendAsyncExactlyOnce.
func TestOnExecutorDefers(t *testing.T) {
	var e queueExecutor
	var ns []int
	cb := OnExecutor(&e, func(n int, err error) { ns = append(ns, n) })
	cb(1, nil)
	require.Equal(t, 1, e.len())
	require.Empty(t, ns)
	e.run(0)
	require.Equal(t, []int{1}, ns)

	inline := OnExecutor[int](nil, func(n int, err error) { ns = append(ns, n) })
	inline(2, nil)
	require.Equal(t, []int{1, 2}, ns)
}
