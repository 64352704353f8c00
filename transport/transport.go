package transport

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/protobuf/protoadapt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
)

// Message is a kvproto message. kvproto is generated with gogo-protobuf and
// implements the v1 protobuf API, which grpc's codec adapts.
type Message = protoadapt.MessageV1

// ErrNotSent marks errors that happened before the request reached TiKV: a
// dial failure, an open circuit breaker, a rate-limit wait cut short by the
// caller's context. Such a request is safe to send again, even when the
// command is not idempotent. Wrap it with fmt.Errorf("%w: ...", ErrNotSent).
//
// It is kv.ErrNotSent, so that packages below transport can recognise it.
var ErrNotSent = kv.ErrNotSent

// Target says where one attempt goes.
type Target struct {
	// StoreID is the store that should serve the request.
	StoreID uint64
	// Addr is the store's gRPC address: where the bytes go.
	Addr string
	// RegionID is the region the request is addressed to; zero for
	// store-level commands.
	RegionID uint64
	// Peer is the region's peer on StoreID; nil for store-level commands.
	Peer *metapb.Peer
	// ForwardedHost, when set, is StoreID's own address: the client cannot
	// reach that store, so Addr is another store of the region (ProxyStoreID)
	// that passes the request on. The transport sends it to Addr with the
	// gRPC metadata ForwardedHostKey naming ForwardedHost, as TiKV's proxy
	// (src/server/proxy.rs) expects; BatchCommands requests travel in
	// streams of their own per (Addr, ForwardedHost). Empty: no proxy.
	ForwardedHost string
	// ProxyStoreID is the store at Addr when ForwardedHost is set, 0
	// otherwise.
	ProxyStoreID uint64
}

// ForwardedHostKey is the gRPC metadata key that asks the TiKV receiving a
// call to forward it to the store at the key's value (TiKV's
// FORWARD_METADATA_KEY, client-go's forwardMetadataKey).
const ForwardedHostKey = "tikv-forwarded-host"

// Request is one attempt of one command. The pipeline builds a new Request
// (and a new shallow copy of Msg with its own kvrpcpb.Context) for every
// attempt, so middleware may keep a pointer to it for the duration of Send.
type Request struct {
	// Cmd is the command; Msg's concrete type is Cmd's request type.
	Cmd Cmd
	// Msg is the kvrpcpb request, with its Context filled in for Target.
	Msg Message
	// Target is the store, region and peer the attempt goes to.
	Target Target
	// Call is the logical call the attempt belongs to (an API call such as
	// a raw Get); its ID is 0 for a Step used outside any plan. Middleware
	// groups attempts by it: a tracing layer makes each attempt a child of
	// the call's span.
	Call observe.Call
	// Piece numbers the piece of the call the attempt serves (the pieces
	// of a call split by region are numbered from 1; a scan's pages too),
	// 0 when there is no call.
	Piece int
	// Attempt counts the attempts of this piece of the logical request,
	// from 0, across re-routes to other regions; each page of a scan is a
	// piece of its own. The pipeline also sets Context.IsRetryRequest when
	// it is > 0.
	Attempt int
	// Timeout bounds the attempt from the moment the Pool takes it: time
	// queued for a BatchCommands stream and the wire call (time spent in
	// middleware before the Pool, such as a rate-limit wait, is bounded by
	// the caller's ctx only). An attempt that runs out of time before it
	// was written fails wrapping ErrNotSent and context.DeadlineExceeded;
	// the pipeline does not count that against the store. Zero means no
	// extra bound.
	Timeout time.Duration
}

// Response is the answer to one attempt: the kvrpcpb response whose type is
// Cmd's response type. A response may still carry a region error or key
// errors; those are the pipeline's to interpret.
type Response struct {
	Msg Message
}

// Sender sends one Request and returns TiKV's answer. See the package
// documentation for the contract every Sender honours.
type Sender interface {
	Send(ctx context.Context, req *Request) (*Response, error)
}

// SenderFunc adapts a function to the Sender interface, as
// http.HandlerFunc does for handlers.
type SenderFunc func(ctx context.Context, req *Request) (*Response, error)

// Send calls f(ctx, req).
func (f SenderFunc) Send(ctx context.Context, req *Request) (*Response, error) { return f(ctx, req) }

// Middleware decorates a Sender: it may observe, tag, delay or refuse an
// attempt, but never retries it.
type Middleware func(next Sender) Sender

// Chain wraps s in mws so that mws[0] is the outermost layer: it sees each
// request first and each response last. Nil middlewares are skipped. The
// chain sends asynchronously (SendAsync) without a goroutine as far down
// as its layers are AsyncSenders: those built with Around are, when the
// layer below is.
func Chain(s Sender, mws ...Middleware) Sender {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			s = mws[i](s)
		}
	}
	return s
}
