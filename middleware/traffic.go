package middleware

import (
	"context"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/transport"
)

// ZoneLabelKey is the store label that names a store's zone (client-go's
// DCLabelKey, TiKV's server.labels "zone").
const ZoneLabelKey = "zone"

// AccessLocation says where an attempt went relative to the client's zone
// (client-go's kv.AccessLocationType).
type AccessLocation uint8

const (
	// AccessUnknown: the client's zone or the store's is not known.
	AccessUnknown AccessLocation = iota
	// AccessLocalZone: the store is in the client's zone.
	AccessLocalZone
	// AccessCrossZone: the store is in another zone.
	AccessCrossZone
)

// String names the location.
func (l AccessLocation) String() string {
	switch l {
	case AccessLocalZone:
		return "local-zone"
	case AccessCrossZone:
		return "cross-zone"
	}
	return "unknown"
}

// TrafficDetails adds up the bytes a call's attempts sent and received
// (client-go's util.TrafficDetails): the sizes of the request and response
// messages as encoded for TiKV, and the part of them that crossed zones.
// Attach one to a call's context with WithTrafficDetails; it is safe for
// concurrent use, as a call's pieces run in parallel.
type TrafficDetails struct {
	sent, received           atomic.Int64
	crossSent, crossReceived atomic.Int64
}

// BytesSent returns the bytes of the requests sent so far.
func (d *TrafficDetails) BytesSent() int64 { return d.sent.Load() }

// BytesReceived returns the bytes of the responses received so far.
func (d *TrafficDetails) BytesReceived() int64 { return d.received.Load() }

// CrossZoneBytesSent returns the part of BytesSent that went to stores in
// another zone.
func (d *TrafficDetails) CrossZoneBytesSent() int64 { return d.crossSent.Load() }

// CrossZoneBytesReceived returns the part of BytesReceived that came from
// stores in another zone.
func (d *TrafficDetails) CrossZoneBytesReceived() int64 { return d.crossReceived.Load() }

type trafficKey struct{}

// WithTrafficDetails returns a context whose calls add their traffic to d.
func WithTrafficDetails(ctx context.Context, d *TrafficDetails) context.Context {
	return context.WithValue(ctx, trafficKey{}, d)
}

// StoreLabels returns a store's labels as the client knows them, nil when
// it does not (yet).
type StoreLabels func(storeID uint64) []*metapb.StoreLabel

// TrafficAccounting returns the middleware that measures each attempt of
// a call whose context carries TrafficDetails (WithTrafficDetails): the
// request's encoded size when it is sent, the response's when it arrives,
// and whether the store is in the client's zone (zone, compared with the
// store's ZoneLabelKey label, client-go's ZoneLabel config). A call
// without TrafficDetails costs one context lookup. It never changes the
// request.
func TrafficAccounting(zone string, labels StoreLabels) transport.Middleware {
	// Built with transport.Around: it keeps an asynchronous send
	// asynchronous.
	return transport.Around(func(ctx context.Context, req *transport.Request) (context.Context, *transport.Request, transport.After, error) {
		d, _ := ctx.Value(trafficKey{}).(*TrafficDetails)
		if d == nil {
			return ctx, req, nil, nil
		}
		cross := Location(zone, labels, req.Target.StoreID) == AccessCrossZone
		n := int64(messageSize(req.Msg))
		d.sent.Add(n)
		if cross {
			d.crossSent.Add(n)
		}
		return ctx, req, func(resp *transport.Response, err error) (*transport.Response, error) {
			if resp != nil {
				m := int64(messageSize(resp.Msg))
				d.received.Add(m)
				if cross {
					d.crossReceived.Add(m)
				}
			}
			return resp, err
		}, nil
	})
}

// Location returns where storeID is relative to the client's zone.
func Location(zone string, labels StoreLabels, storeID uint64) AccessLocation {
	if zone == "" || labels == nil {
		return AccessUnknown
	}
	for _, l := range labels(storeID) {
		if l.GetKey() == ZoneLabelKey {
			if l.GetValue() == zone {
				return AccessLocalZone
			}
			return AccessCrossZone
		}
	}
	return AccessUnknown
}

// messageSize is a message's encoded size (kvproto's messages know it).
func messageSize(m transport.Message) int {
	if s, ok := m.(interface{ Size() int }); ok {
		return s.Size()
	}
	return 0
}
