package transport

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

func TestCheckHealth(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	defer srv.Stop()

	p := NewPool()
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.CheckHealth(ctx, lis.Addr().String()); err != nil {
		t.Fatalf("serving store: %v", err)
	}
	hs.SetServingStatus("", grpc_health_v1.HealthCheckResponse_NOT_SERVING)
	var ns *NotServingError
	if err := p.CheckHealth(ctx, lis.Addr().String()); !errors.As(err, &ns) || ns.Status != "NOT_SERVING" {
		t.Fatalf("not serving store: %v", err)
	}

	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := p.CheckHealth(short, addr); err == nil || errors.As(err, &ns) {
		t.Fatalf("dead address: %v", err)
	}
}
