package transport

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// serve is the send loop of one opened stream. Each round blocks for a
// first request, drains what else is queued up to MaxBatchSize (the
// priority lane first), lets the policy decide whether to wait for more,
// and writes the batch. It returns when the stream breaks (with why) or
// the client closes (nil).
func (s *batchStream) serve(ls *liveStream) error {
	maxBatch := s.client.cfg.MaxBatchSize
	for {
		if !s.collectHead(ls) {
			break
		}
		head := s.batch[0].arrived
		var gap time.Duration
		if !s.lastArrive.IsZero() && head.After(s.lastArrive) {
			gap = head.Sub(s.lastArrive)
		}
		s.drain()
		if n := len(s.batch); n < maxBatch {
			if wait, target := s.policy.plan(n, gap, s.client.load.Load()); wait > 0 {
				s.collectMore(ls, wait, target)
			}
		}
		s.policy.sent(len(s.batch))
		s.flush(ls)
	}
	select {
	case <-ls.recvDone:
		return ls.brokenErr
	default:
		return nil // closing
	}
}

// budgetLeft is how many more normal-lane requests this round may take.
func (s *batchStream) budgetLeft() int {
	if s.limit == 0 {
		return s.client.cfg.MaxBatchSize
	}
	return int(s.limit - s.inflight.Load() - int64(s.normals))
}

// take claims e for the batch unless its caller has left.
func (s *batchStream) take(e *batchEntry) {
	if e.state.CompareAndSwap(entryQueued, entryTaken) {
		s.batch = append(s.batch, e)
		if !e.high {
			s.normals++
		}
	}
}

// collectHead blocks until the batch has a first entry (true), or the
// stream breaks or the client closes (false).
func (s *batchStream) collectHead(ls *liveStream) bool {
	for len(s.batch) == 0 {
		select {
		case e := <-s.high:
			s.take(e)
			continue
		default:
		}
		normal := s.normal
		if s.budgetLeft() <= 0 {
			normal = nil
		}
		select {
		case e := <-s.high:
			s.take(e)
		case e := <-normal:
			s.take(e)
		case <-s.budget:
		case <-ls.recvDone:
			return false
		case <-s.client.stop:
			return false
		}
	}
	return true
}

// drain takes what is queued without blocking, priority lane first.
func (s *batchStream) drain() {
	maxBatch := s.client.cfg.MaxBatchSize
	for len(s.batch) < maxBatch {
		select {
		case e := <-s.high:
			s.take(e)
			continue
		default:
		}
		break
	}
	for len(s.batch) < maxBatch && s.budgetLeft() > 0 {
		select {
		case e := <-s.normal:
			s.take(e)
			continue
		default:
		}
		break
	}
}

// collectMore waits up to wait for the batch to reach target entries, then
// takes whatever else arrived (yielding once so that callers woken by the
// previous batch's responses can queue).
func (s *batchStream) collectMore(ls *liveStream, wait time.Duration, target int) {
	s.timer.Reset(wait)
	defer s.timer.Stop()
	for len(s.batch) < target {
		normal := s.normal
		if s.budgetLeft() <= 0 {
			normal = nil
		}
		select {
		case e := <-s.high:
			s.take(e)
		case e := <-normal:
			s.take(e)
		case <-s.timer.C:
			target = 0
		case <-ls.recvDone:
			return
		case <-s.client.stop:
			return
		}
	}
	s.drain()
	if len(s.batch) < s.client.cfg.MaxBatchSize {
		runtime.Gosched()
		s.drain()
	}
}

// flush writes the batch and resets it. Entries are registered as in
// flight before the write, so that a response can never beat its entry to
// the map; if the stream has already broken they fail wrapping ErrNotSent.
func (s *batchStream) flush(ls *liveStream) {
	defer s.reset()
	for _, e := range s.batch {
		s.nextID++
		s.ids = append(s.ids, s.nextID)
		if e.arrived.After(s.lastArrive) {
			s.lastArrive = e.arrived
		}
	}
	now := time.Now()
	s.observeBatch(now)
	msg := encodeBatch(s.batch, s.ids, uint64(now.UnixNano()))

	ls.mu.Lock()
	if ls.broken {
		err := fmt.Errorf("%w: BatchCommands stream failed before the request was written: %w", ErrNotSent, ls.brokenErr)
		if s.client.closing.Load() {
			// Close broke the stream; the loop may still have taken a
			// queued request (a freed budget slot can win the race with
			// the stop signal): it fails as every queued request does.
			err = fmt.Errorf("%w: %w", ErrNotSent, kv.ErrClosed)
		}
		ls.mu.Unlock()
		for _, e := range s.batch {
			e.complete(entryTaken, nil, err)
		}
		return
	}
	for i, e := range s.batch {
		ls.inflight[s.ids[i]] = e
	}
	s.inflight.Add(int64(len(s.batch)))
	ls.mu.Unlock()

	if err := ls.st.SendMsg(msg); err != nil && !errors.Is(err, io.EOF) {
		// The stream may still be open (io.EOF means it has ended and
		// Recv reports why): end it, so its receive loop fails what is
		// in flight, this batch included.
		ls.mu.Lock()
		ls.sendErr = err
		ls.mu.Unlock()
		ls.cancel()
	}
}

func (s *batchStream) reset() {
	clear(s.batch) // do not pin finished entries
	s.batch, s.ids, s.normals = s.batch[:0], s.ids[:0], 0
}
