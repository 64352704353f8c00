package tikv_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWithLogRedaction: with WithLogRedaction(RedactMarker) the request
// log line of a failed attempt shows its key marked, through the
// cluster's logger; a call given its own logger (WithLogContext) is logged
// there, marked too, and not to the cluster's. In-process (a failed send
// is the mock's Fail fault, the same in both transports).
func TestWithLogRedaction(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	var clusterLog, callLog syncBuffer
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithLogger(slog.New(slog.NewTextHandler(&clusterLog, nil))),
		tikv.WithRequestLogging(middleware.LoggingConfig{Every: -1}),
		tikv.WithLogRedaction(middleware.RedactMarker))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	ctx := t.Context()
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	fail := func() {
		mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Fail(status.Error(codes.Unavailable, "injected"))),
		}})
	}

	fail()
	if _, err := client.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("Get after one failed attempt: %v", err)
	}
	if out := clusterLog.String(); !strings.Contains(out, "key=‹6B›") || strings.Contains(out, "key=6B") {
		t.Fatalf("cluster log %q, want the failed attempt's key marked", out)
	}

	before := clusterLog.String()
	fail()
	callCtx := tikv.WithLogContext(ctx, slog.New(slog.NewTextHandler(&callLog, nil)))
	if _, err := client.Get(callCtx, []byte("k")); err != nil {
		t.Fatalf("Get after one failed attempt: %v", err)
	}
	if out := callLog.String(); !strings.Contains(out, "key=‹6B›") {
		t.Fatalf("call log %q, want the failed attempt's key marked", out)
	}
	if clusterLog.String() != before {
		t.Fatalf("the call's failure also went to the cluster log: %q", strings.TrimPrefix(clusterLog.String(), before))
	}
}
