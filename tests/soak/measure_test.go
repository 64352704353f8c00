package soak_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// socketsByPeer counts the process's open TCP sockets by the server they
// belong to ("dialed <name>", "accepted by <name>", "listener of <name>";
// servers maps "host:port" to a name), so a failure says whose connections
// were left open. Sockets of no listed server count as "other".
func socketsByPeer(servers map[string]string) map[string]int {
	inodes := map[string]bool{}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	counts := map[string]int{}
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			local, remote := procPort(f[1]), procPort(f[2])
			name := "other"
			for addr, n := range servers {
				_, port, _ := strings.Cut(addr, ":")
				switch port {
				case remote:
					name = "dialed " + n
				case local:
					name = "accepted by " + n
					if f[3] == tcpListen {
						name = "listener of " + n
					}
				}
			}
			counts[name]++
		}
	}
	return counts
}

// tcpListen is the LISTEN state in /proc/net/tcp's st column.
const tcpListen = "0A"

// procPort is the decimal port of a /proc/net/tcp address ("0100007F:1F90").
func procPort(addr string) string {
	_, hex, _ := strings.Cut(addr, ":")
	p, err := strconv.ParseUint(hex, 16, 16)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(p, 10)
}
