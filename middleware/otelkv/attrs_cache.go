package otelkv

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tikvgo/tikv/transport"
)

// setKind says which instrument's attribute set a setKey describes.
type setKind uint8

const (
	setOperation    setKind = iota + 1 // API, error.type
	setAttempt                         // command, store, error.type
	setInFlight                        // command, store
	setBackoff                         // policy
	setCacheMiss                       // cache kind
	setCacheLoad                       // cache kind, error.type
	setInvalidation                    // region error kind, store
	setPD                              // PD method, error.type
	setLock                            // lock outcome
	setCommit                          // protocol, error.type
	setBatch                           // store address (server.address, server.port)
)

// setKey identifies one attribute set; only the fields its kind uses are
// set, so equal sets share one key.
type setKey struct {
	kind    setKind
	name    string // API, policy, cache kind, region error kind, PD method, outcome, protocol
	errType string
	cmd     transport.Cmd
	store   uint64
}

// pointOpts are one attribute set, ready to pass to Record or Add without
// building a slice per measurement.
type pointOpts struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

// attrCaches memoise the attribute sets of metric points and the server
// attributes of stores' addresses.
type attrCaches struct {
	sets   *cache[setKey, pointOpts]
	server *cache[string, []attribute.KeyValue]
}

func newAttrCaches() *attrCaches {
	return &attrCaches{sets: newCache(makePointOpts), server: newCache(serverAttrs)}
}

func (c *attrCaches) point(k setKey) pointOpts { return c.sets.get(k) }

func makePointOpts(k setKey) pointOpts {
	kvs := []attribute.KeyValue{dbSystem}
	switch k.kind {
	case setOperation:
		kvs = append(kvs, semconv.DBOperationName(k.name))
	case setAttempt, setInFlight:
		kvs = append(kvs, semconv.DBOperationName(k.cmd.String()), KeyStoreID.Int64(int64(k.store)))
	case setBackoff:
		kvs = append(kvs, KeyBackoff.String(k.name))
	case setCacheMiss, setCacheLoad:
		kvs = append(kvs, KeyCacheKind.String(k.name))
	case setInvalidation:
		kvs = append(kvs, KeyRegionError.String(k.name), KeyStoreID.Int64(int64(k.store)))
	case setPD:
		kvs = append(kvs, KeyPDMethod.String(k.name))
	case setLock:
		kvs = append(kvs, KeyLockOutcome.String(k.name), semconv.DBOperationName(k.cmd.String()))
	case setCommit:
		kvs = append(kvs, KeyTxnProtocol.String(k.name))
	case setBatch:
		kvs = append(kvs, serverAttrs(k.name)...)
	}
	if k.errType != "" {
		kvs = append(kvs, semconv.ErrorTypeKey.String(k.errType))
	}
	set := attribute.NewSet(kvs...)
	return pointOpts{
		rec: []metric.RecordOption{metric.WithAttributeSet(set)},
		add: []metric.AddOption{metric.WithAttributeSet(set)},
	}
}
