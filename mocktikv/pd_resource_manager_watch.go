package mocktikv

import (
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
)

// rmWatchBuffer is how many events a watcher may have undelivered. PD's
// client buffers 100 responses per watch; the controller reads its
// watches in its main loop, so a full buffer means a stuck reader, and
// the mock drops the event rather than block a resource-group change
// (a real etcd would make the watch fall behind instead).
const rmWatchBuffer = 100

// rmWatcher is one meta storage watch on the resource manager's keys:
// deliver gets each event on a key in [key, end) and must not block (it
// runs under rmState.mu).
type rmWatcher struct {
	key, end []byte
	prevKV   bool
	deliver  func(*meta_storagepb.Event)
}

// watch registers a watcher. Watches start at the current revision: the
// mock keeps no history, so a start revision in the past replays nothing.
func (s *rmState) watch(w *rmWatcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, w)
}

// unwatch removes a watcher; then runs under the lock after the removal,
// so that no delivery races with it (the in-process watch closes its
// channel there).
func (s *rmState) unwatch(w *rmWatcher, then func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.watchers {
		if x == w {
			s.watchers = append(s.watchers[:i], s.watchers[i+1:]...)
			break
		}
	}
	if then != nil {
		then()
	}
}

// notifyLocked tells the watchers of a settings key about a put (cur) or
// a delete (prev, the group before it went).
func (s *rmState) notifyLocked(typ meta_storagepb.Event_EventType, cur, prev *rmGroup) {
	if len(s.watchers) == 0 {
		return
	}
	var kv, prevKV *meta_storagepb.KeyValue
	if cur != nil {
		kv = cur.settingsKV()
	}
	if prev != nil {
		prevKV = prev.settingsKV()
		kv = &meta_storagepb.KeyValue{Key: prevKV.Key, ModRevision: s.rev}
	}
	for _, w := range s.watchers {
		if !keyInRange(kv.Key, w.key, w.end) {
			continue
		}
		ev := &meta_storagepb.Event{Type: typ, Kv: kv}
		if w.prevKV {
			ev.PrevKv = prevKV
		}
		w.deliver(ev)
	}
}

// Watch streams the changes of the resource manager's keys (the settings
// of the groups) to a PD client's meta storage watch; other keys never
// change in the mock, so their watches stay silent. The stream ends with
// the client's context or the server.
func (s *pdMetaStorage) Watch(req *meta_storagepb.WatchRequest, stream meta_storagepb.MetaStorage_WatchServer) error {
	events := make(chan *meta_storagepb.Event, rmWatchBuffer)
	w := &rmWatcher{key: req.GetKey(), end: req.GetRangeEnd(), prevKV: req.GetPrevKv(), deliver: func(ev *meta_storagepb.Event) {
		select {
		case events <- ev:
		default:
		}
	}}
	s.c.rm.watch(w)
	defer s.c.rm.unwatch(w, nil)
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-events:
			if err := stream.Send(&meta_storagepb.WatchResponse{Header: s.header(), Events: []*meta_storagepb.Event{ev}}); err != nil {
				return err
			}
		}
	}
}

func (s *pdMetaStorage) header() *meta_storagepb.ResponseHeader {
	return &meta_storagepb.ResponseHeader{ClusterId: s.c.clusterID}
}
