package logging

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	pingcaplog "github.com/pingcap/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Why a process-wide route. github.com/tikv/pd/client offers no per-client
// logger: every line it writes goes through pingcap/log's package
// functions (log.Info, log.Warn, ...), which use the one global zap logger
// that pingcap/log's init points at os.Stdout at INFO level. The only way
// to change where those lines go is pingcap/log.ReplaceGlobals, so tikvgo
// replaces the global logger, once, with a bridge into slog (zapBridge),
// and routes each record to the loggers of the PD clients that are open.
//
// A record carries nothing that says which PD client wrote it, so it goes
// to every distinct logger registered: the process's quiet default
// (Default) once, however many clusters use it, and each logger given with
// WithLogger. When no PD client is open (after the last Close, or in a
// program that also uses pingcap/log itself), records go to Default, which
// prints no INFO (and, as below, no shutdown noise).
//
// pingcap/log.SetLevel keeps working: the replacement carries an atomic
// level, at Debug, that the bridge obeys on top of the handlers' own.

// Shutdown noise. pd/client's Close does not wait for all of its
// goroutines (its router client's connection daemon, at least, runs on
// after Close returns) and those goroutines warn, even log errors, when
// they find the connections gone or their context canceled: on a normal
// Close, "failed to create the leader router stream connection" and "got
// an invalid leader client connection". No line says which client it
// comes from, so the route demotes the PD client's warnings and errors to
// Debug while any PD client is closing, for closeGrace after one has
// closed, and while none is open; a demoted record carries a
// "demoted_from" attribute with its original level. The price: a real
// warning from another, still open, PD client in that window is also
// demoted.

// closeGrace is how long after a PD client's Close its leftover goroutines
// are taken to be exiting.
const closeGrace = time.Second

// pdRoute is the process's route; see above for why it must be global.
var pdRoute = &route{custom: map[*registration]struct{}{}}

type route struct {
	install sync.Once

	mu          sync.RWMutex
	defaultRefs int // open PD clients logging to Default
	custom      map[*registration]struct{}
	closing     int       // PD clients inside Close
	graceUntil  time.Time // closeGrace after the last Close returned
}

type registration struct{ h slog.Handler }

// PDRoute is one PD client's claim on pingcap/log's records (RoutePD).
type PDRoute struct {
	closing, closed func()
}

// Closing marks the PD client as closing: until Closed, the PD client's
// warnings and errors are demoted to Debug (see above). Call it right
// before closing the PD client.
func (p *PDRoute) Closing() { p.closing() }

// Closed ends the claim: the logger no longer gets records. Call it once,
// after the PD client is closed (and after Closing, if that was called).
// It is idempotent.
func (p *PDRoute) Closed() { p.closed() }

// RoutePD sends pingcap/log's records, the PD client's logs, to l (nil
// means Default) until Closed is called on the result. The first call in a
// process replaces pingcap/log's global logger (see above).
func RoutePD(l *slog.Logger) *PDRoute {
	pdRoute.install.Do(pdRoute.replaceGlobal)
	pdRoute.mu.Lock()
	defer pdRoute.mu.Unlock()
	var reg *registration
	if l == nil || l == Default() {
		pdRoute.defaultRefs++
	} else {
		reg = &registration{h: l.Handler()}
		pdRoute.custom[reg] = struct{}{}
	}
	var isClosing bool // guarded by pdRoute.mu
	return &PDRoute{
		closing: sync.OnceFunc(func() {
			pdRoute.mu.Lock()
			defer pdRoute.mu.Unlock()
			pdRoute.closing++
			isClosing = true
		}),
		closed: sync.OnceFunc(func() {
			pdRoute.mu.Lock()
			defer pdRoute.mu.Unlock()
			if reg == nil {
				pdRoute.defaultRefs--
			} else {
				delete(pdRoute.custom, reg)
			}
			if isClosing {
				pdRoute.closing--
				pdRoute.graceUntil = time.Now().Add(closeGrace)
			}
		}),
	}
}

func (r *route) replaceGlobal() {
	level := zap.NewAtomicLevelAt(zapcore.DebugLevel)
	core := &zapBridge{to: r, level: level}
	// The properties' syncer is only read by pingcap/log's Sync, which
	// the bridge has nothing to flush for.
	pingcaplog.ReplaceGlobals(zap.New(core), &pingcaplog.ZapProperties{Core: core, Syncer: zapcore.AddSync(nopWriter{}), Level: level})
}

// targetsRLocked lists the handlers a record goes to: Default when a PD
// client uses it or none is open, and every custom logger.
func (r *route) targetsRLocked() []slog.Handler {
	hs := make([]slog.Handler, 0, len(r.custom)+1)
	if r.defaultRefs > 0 || len(r.custom) == 0 {
		hs = append(hs, Default().Handler())
	}
	for reg := range r.custom {
		hs = append(hs, reg.h)
	}
	return hs
}

// levelRLocked is the level a PD client record of level l is handled at:
// warnings and errors are demoted to Debug around Close (see above).
func (r *route) levelRLocked(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return l
	}
	if r.closing > 0 || r.defaultRefs+len(r.custom) == 0 || time.Now().Before(r.graceUntil) {
		return slog.LevelDebug
	}
	return l
}

func (r *route) enabled(l slog.Level) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l = r.levelRLocked(l)
	if (r.defaultRefs > 0 || len(r.custom) == 0) && Default().Enabled(context.Background(), l) {
		return true
	}
	for reg := range r.custom {
		if reg.h.Enabled(context.Background(), l) {
			return true
		}
	}
	return false
}

func (r *route) handlers(l slog.Level) (slog.Level, []slog.Handler) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l = r.levelRLocked(l)
	hs := r.targetsRLocked()
	return l, slices.DeleteFunc(hs, func(h slog.Handler) bool { return !h.Enabled(context.Background(), l) })
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
