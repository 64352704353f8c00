package tikv

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"

	"github.com/tikv/pd/client/constants"
	"github.com/tikv/pd/client/resource_group/controller"

	"github.com/tikvgo/tikv/internal/logging"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// resourceControlConfig is WithResourceControl's request.
type resourceControlConfig struct {
	group string
	opts  []controller.ResourceControlCreateOption
	// ctrl is the running controller, set by Connect before the chain is
	// built (chainOrder reads it).
	ctrl *controller.ResourceGroupsController
}

// WithResourceControl turns on resource control (client-go's
// EnableResourceControl with its controller set): Connect creates PD's
// resource-group controller (github.com/tikv/pd/client/resource_group/controller)
// on the cluster's PD client, which must serve the resource manager (the
// real PD client and mocktikv's in-process PD do), runs it until Close, and
// puts middleware.ResourceControl in the chain. Requests are charged to
// group unless their transaction or ctx names another
// (middleware.WithResourceGroup); with group "" only those are controlled.
// opts tune the controller (controller.WithMaxWaitDuration, ...).
//
// The controller works in the PD client's keyspace scope (the keyspace-less
// one for a client from Connect), where PD keeps the groups it lists.
func WithResourceControl(group string, opts ...controller.ResourceControlCreateOption) Option {
	return func(c *config) { c.resourceControl = &resourceControlConfig{group: group, opts: opts} }
}

// resourceControl is the cluster's running controller and what stops it.
type resourceControl struct {
	ctrl   *controller.ResourceGroupsController
	cancel context.CancelFunc
	logs   *logging.PDRoute
}

// startResourceControl creates and starts the controller on pd. ctx bounds
// the creation (it reads the controller's configuration from PD); the
// controller's loop lives until stop.
func startResourceControl(ctx context.Context, pd pdclient.PD, cfg *resourceControlConfig, logger *slog.Logger) (*resourceControl, error) {
	provider, ok := pd.(controller.ResourceGroupProvider)
	if !ok {
		return nil, kv.InvalidArgument("resource control: the PD client %T serves no resource groups", pd)
	}
	// The controller logs through pingcap/log, as the PD client does: route
	// its lines to the cluster's logger (an in-process PD routes none).
	logs := logging.RoutePD(logger)
	// Each client is a token slot of its own on PD: a random id, as TiDB
	// uses its server id.
	ctrl, err := controller.NewResourceGroupController(ctx, rand.Uint64(), provider, nil, constants.NullKeyspaceID, cfg.opts...)
	if err != nil {
		logs.Closed()
		return nil, fmt.Errorf("%w: resource control: %w", kv.ErrPDUnavailable, err)
	}
	// Start's ctx also bounds the controller's meta storage watches, which
	// Stop does not end: cancel it on stop.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ctrl.Start(life)
	cfg.ctrl = ctrl
	return &resourceControl{ctrl: ctrl, cancel: cancel, logs: logs}, nil
}

// stop ends the controller's loop and waits for it.
func (r *resourceControl) stop() {
	if r == nil {
		return
	}
	_ = r.ctrl.Stop() // it fails only for a controller never started
	r.logs.Closed()
}

// endWatches ends the controller's meta storage watches, which Stop leaves
// open. The Cluster calls it after closing a PD client it owns, whose
// watch streams then end with the client (a stream cancelled while the
// client lives is logged as a warning by the PD client).
func (r *resourceControl) endWatches() {
	if r != nil {
		r.cancel()
	}
}

// middleware is the chain's resource-control layer, or nil when off.
func (c *resourceControlConfig) middleware() transport.Middleware {
	if c == nil || c.ctrl == nil {
		return nil
	}
	return middleware.ResourceControl(c.ctrl, c.group)
}

// ResourceController returns the cluster's resource-group controller, or
// nil without WithResourceControl: for reading a group's settings as the
// controller sees them (GetResourceGroup) or reporting consumption made
// outside TiKV (ReportConsumption).
func (c *Cluster) ResourceController() *controller.ResourceGroupsController {
	if c.rc == nil {
		return nil
	}
	return c.rc.ctrl
}
