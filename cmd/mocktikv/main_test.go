package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer lets the test read what run prints while it serves.
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

// TestServeAndConnect starts the standalone server, reads PD's address
// from its output and runs a client against it, as the README describes.
func TestServeAndConnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-stores", "2", "-split", "m"}, out) }()

	var pd string
	for deadline := time.Now().Add(10 * time.Second); pd == "" && time.Now().Before(deadline); {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			pd = strings.TrimPrefix(line, "pd ")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if pd == "" {
		cancel()
		t.Fatalf("no PD address printed: %q", out.String())
	}
	if n := strings.Count(out.String(), "\nregion "); n != 2 {
		t.Errorf("printed %d regions, want 2:\n%s", n, out.String())
	}
	cluster, err := tikv.Connect(ctx, []string{pd})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	client := raw.NewClient(cluster)
	if err := client.Put(ctx, []byte("z"), []byte("1")); err != nil {
		t.Error(err)
	}
	cluster.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-stores", "0"},
		{"-nope"},
		{"-api-version", "v3"},
		{"-keyspace", ""},
		{"stray"},
		{"-addr", "no-port"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestFlagsShapeTheCluster: each flag's effect on the cluster it builds.
func TestFlagsShapeTheCluster(t *testing.T) {
	boundaries := func(c *mocktikv.Cluster) []string {
		var out []string
		for _, r := range c.Regions()[1:] {
			out = append(out, string(r.StartKey))
		}
		return out
	}
	enc := func(k string) string { return string(codec.EncodeBytes(nil, []byte(k))) }
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *mocktikv.Cluster)
	}{
		{"defaults", nil, func(t *testing.T, c *mocktikv.Cluster) {
			require.Len(t, c.StoreIDs(), 1)
			require.Len(t, c.Regions(), 1)
			require.Equal(t, kvrpcpb.APIVersion_V1, c.APIVersion())
		}},
		{"stores", []string{"-stores", "3"}, func(t *testing.T, c *mocktikv.Cluster) {
			require.Len(t, c.StoreIDs(), 3)
		}},
		{"raw split keys as given", []string{"-split", "m,c,,m"}, func(t *testing.T, c *mocktikv.Cluster) {
			require.Equal(t, []string{"c", "m"}, boundaries(c))
		}},
		{"txn split keys encoded", []string{"-txn-split", "b,a"}, func(t *testing.T, c *mocktikv.Cluster) {
			require.Equal(t, []string{enc("a"), enc("b")}, boundaries(c))
		}},
		{"api version", []string{"-api-version", "V2"}, func(t *testing.T, c *mocktikv.Cluster) {
			require.Equal(t, kvrpcpb.APIVersion_V2, c.APIVersion())
		}},
		{"keyspaces", []string{"-api-version", "v2", "-keyspace", "ks1", "-keyspace", "ks2"}, func(t *testing.T, c *mocktikv.Cluster) {
			// Each keyspace's raw and txn prefixes start regions of their
			// own (PD's keyspace split).
			starts := map[string]bool{}
			for _, b := range boundaries(c) {
				starts[b] = true
			}
			for _, id := range []byte{1, 2} {
				for _, mode := range []byte{'r', 'x'} {
					require.True(t, starts[enc(string([]byte{mode, 0, 0, id}))], "boundary at %c%d", mode, id)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			opts, addr, err := parseFlags(tc.args, &out)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1:0", addr)
			tc.check(t, mocktikv.NewCluster(opts...))
		})
	}
}

// TestFixedAddr: with a fixed PD port the stores take the next ports.
func TestFixedAddr(t *testing.T) {
	port := freePorts(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-stores", "2"}, out) }()
	want := fmt.Sprintf("pd 127.0.0.1:%d\nstore 1 127.0.0.1:%d\nstore 2 127.0.0.1:%d\n", port, port+1, port+2)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(out.String(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.True(t, strings.HasPrefix(out.String(), want), "output %q, want it to start with %q", out.String(), want)
}

// freePorts finds n consecutive free loopback ports and returns the first.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		first := lis.Addr().(*net.TCPAddr).Port
		lis.Close()
		ok := true
		for i := 1; i < n && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first+i))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatal("no consecutive free ports")
	return 0
}

// TestPrintsAPIVersionAndKeyspaces: the start-up output names the storage
// API version and every keyspace (with its id), so a user knows what to
// pass a client's WithAPIVersion and WithKeyspace.
func TestPrintsAPIVersionAndKeyspaces(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-api-version", "v2", "-keyspace", "ks1"}, out) }()
	want := "api-version v2\nkeyspace 0 DEFAULT\nkeyspace 1 ks1\n"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, out.String(), want)
}
