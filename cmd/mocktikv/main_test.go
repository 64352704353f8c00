package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	pingcaplog "github.com/pingcap/log"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/raw"
)

func TestMain(m *testing.M) {
	pingcaplog.SetLevel(zapcore.WarnLevel)
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
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-stores", "0"}, &out); err == nil {
		t.Fatal("-stores 0 accepted")
	}
	if err := run(context.Background(), []string{"-nope"}, &out); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
