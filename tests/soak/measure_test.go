package soak_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// snapshot is the process's resource use at one checkpoint.
type snapshot struct {
	goroutines int
	fds        int // -1 where /proc/self/fd does not exist
	heapAlloc  uint64
	heapInuse  uint64
}

func (s snapshot) String() string {
	return fmt.Sprintf("goroutines %d, fds %d, HeapAlloc %d KiB, HeapInuse %d KiB",
		s.goroutines, s.fds, s.heapAlloc>>10, s.heapInuse>>10)
}

// take measures the process now; the heap after a full collection, so it
// counts only what is still reachable.
func take() snapshot {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{
		goroutines: runtime.NumGoroutine(),
		fds:        countFDs(),
		heapAlloc:  ms.HeapAlloc,
		heapInuse:  ms.HeapInuse,
	}
}

// countFDs counts the process's open descriptors (the directory read's own
// descriptor included, so every call counts it alike).
func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// settleTo waits, at most settleTimeout, until the goroutine and descriptor
// counts are within the limits (closed connections finish tearing down in
// the background), and returns the last measurement either way.
func settleTo(goroutines, fds int) snapshot {
	deadline := time.Now().Add(settleTimeout)
	for {
		g, f := runtime.NumGoroutine(), countFDs()
		if (g <= goroutines && f <= fds) || time.Now().After(deadline) {
			return take()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settleStable waits until the goroutine and descriptor counts stay the
// same for 200ms, the baseline the later checkpoints are held to. It fails
// the test if they do not within settleTimeout.
func settleStable(t *testing.T) snapshot {
	t.Helper()
	const quiet = 20 // polls, 10ms apart
	deadline := time.Now().Add(settleTimeout)
	g, f, same := -1, -1, 0
	for same < quiet {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines and fds did not settle in %v (last %d, %d)", settleTimeout, g, f)
		}
		time.Sleep(10 * time.Millisecond)
		ng, nf := runtime.NumGoroutine(), countFDs()
		if ng == g && nf == f {
			same++
		} else {
			g, f, same = ng, nf, 0
		}
	}
	return take()
}

// goroutineDump is every goroutine's stack, for a failure message.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
