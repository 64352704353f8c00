// The capture swaps file descriptors with dup3, which every Linux
// architecture has (arm64 has no dup2).

package tikv_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
)

// captureOutput runs f with the process's standard output and error,
// file descriptors 1 and 2 included, sent to a pipe, and returns what was
// written. Swapping the descriptors, not only os.Stdout and os.Stderr, is
// what catches pingcap/log: its global zap logger keeps the *os.File it
// opened for "stdout" when the package was initialised.
func captureOutput(t *testing.T, f func()) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(&out, r) })
	saved := make([]int, 3)
	for _, fd := range []int{1, 2} {
		if saved[fd], err = syscall.Dup(fd); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Dup3(int(w.Fd()), fd, 0); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	func() {
		defer func() {
			os.Stdout, os.Stderr = stdout, stderr
			for _, fd := range []int{1, 2} {
				_ = syscall.Dup3(saved[fd], fd, 0)
				_ = syscall.Close(saved[fd])
			}
			_ = w.Close()
		}()
		f()
	}()
	wg.Wait()
	_ = r.Close()
	return out.Bytes()
}

// One Connect and Close over gRPC, at default settings, writes nothing to
// the process's standard output or error (issue 9's acceptance: pd/client
// used to print some forty INFO lines and a stack trace).
func TestConnectAndCloseAreQuietByDefault(t *testing.T) {
	mock := mocktikv.Start(t)
	var connectErr, closeErr error
	out := captureOutput(t, func() {
		var cluster *tikv.Cluster
		cluster, connectErr = tikv.Connect(t.Context(), mock.PDAddrs())
		if connectErr == nil {
			closeErr = cluster.Close()
		}
	})
	if connectErr != nil || closeErr != nil {
		t.Fatalf("Connect, Close = %v, %v", connectErr, closeErr)
	}
	if len(out) != 0 {
		t.Fatalf("Connect + Close wrote %d bytes to stdout/stderr:\n%s", len(out), out)
	}
}

// With a logger of its own, the cluster writes nothing to standard output
// or error either: the PD client's lines go to that logger only.
func TestWithLoggerKeepsStdoutAndStderrClean(t *testing.T) {
	mock := mocktikv.Start(t)
	h := &recordingHandler{}
	out := captureOutput(t, func() {
		cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithLogger(slog.New(h)))
		if err != nil {
			t.Error(err)
			return
		}
		if err := cluster.Close(); err != nil {
			t.Error(err)
		}
	})
	if len(out) != 0 {
		t.Errorf("with a logger of its own the cluster still wrote %q", out)
	}
	if len(h.messages(slog.LevelInfo)) == 0 {
		t.Error("the logger got no INFO lines from the PD client")
	}
}
