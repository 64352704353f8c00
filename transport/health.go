package transport

import (
	"context"
	"fmt"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// HealthChecker is a Sender that can also tell whether the store at an
// address is serving. The Pool is one; tikv.Connect checks stores with the
// transport's own HealthChecker when the transport has one.
type HealthChecker interface {
	// CheckHealth returns nil when the store at addr is serving.
	CheckHealth(ctx context.Context, addr string) error
}

var _ HealthChecker = (*Pool)(nil)

// CheckHealth asks the store at addr whether it is serving, with gRPC's
// health service, over a connection of its own (a broken pooled connection
// must not make a live store look dead; client-go probes the same way). It
// returns nil when the store answers SERVING, and otherwise the error or a
// description of the status it reported. The Pool's dial options (TLS
// included) apply. ctx bounds the whole check.
func (p *Pool) CheckHealth(ctx context.Context, addr string) error {
	conn, err := p.newClient(addr, p.dialOpts...)
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	if s := resp.GetStatus(); s != grpc_health_v1.HealthCheckResponse_SERVING {
		return &NotServingError{Addr: addr, Status: s.String()}
	}
	return nil
}

// NotServingError is a health check answered with a status other than
// SERVING: the store is up but says it cannot serve.
type NotServingError struct {
	Addr   string
	Status string
}

// Error describes the failure on one line.
func (e *NotServingError) Error() string {
	return fmt.Sprintf("health check of %s: store reports %s", e.Addr, e.Status)
}
