// Package middleware holds tikvgo's built-in transport middleware and the
// request-scoped interceptor seam.
//
// The client assembles one chain per cluster in a fixed order, outermost
// first (docs/ARCHITECTURE.md): Tracing -> Metrics -> client-wide user middleware
// -> ctx-attached interceptors -> CircuitBreaker -> ResourceControl ->
// RateLimit -> Keyspace codec -> transport. Two small layers sit between
// the interceptors and the breaker: TagRequestSource, so every policy layer
// sees the attempt's request source, and RequestLogging, so the breaker's
// and the limiters' refusals are logged too. RateLimit is followed by
// StoreTokenLimit (attempts in flight per store). Users plug in only at the two
// user slots: client-wide middleware (tikv.WithMiddleware) and interceptors
// attached to one call's context (WithInterceptors). Protocol layers cannot
// be reordered, because each relies on the ones outside it (the breaker
// must refuse before rate-limit tokens are spent; the keyspace codec must
// see exactly the bytes that go on the wire).
package middleware
