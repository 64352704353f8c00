package tikv

import (
	"net/url"
	"strings"

	"github.com/tikvgo/tikv/kv"
)

// Path is what a tikv:// path names: client-go's config.ParsePath results,
// for programs that take TiDB's store path
// ("tikv://pd1:2379,pd2:2379?disableGC=true&keyspaceName=ks") as their
// configuration.
type Path struct {
	// PDAddrs are the PD endpoints, in the order given: Connect's pdAddrs.
	PDAddrs []string
	// DisableGC is the path's disableGC flag. tikvgo runs no GC worker
	// behind the caller's back (package gc runs when called), so the flag
	// is the caller's to honour: true means this process should not run
	// GC for the cluster.
	DisableGC bool
	// KeyspaceName is the path's keyspaceName, "" when it names none;
	// Options turns it into WithKeyspace.
	KeyspaceName string
}

// ParsePath parses a tikv:// path (client-go's config.ParsePath): the host
// part is a comma-separated list of PD endpoints; the query may set
// disableGC (true or false, any case; absent means false) and
// keyspaceName. Other query parameters, such as TiDB's cluster, are
// ignored, as client-go ignores them. A path that does not parse, has
// another scheme, names no PD endpoint, lists an empty endpoint, or sets
// disableGC to anything else is an error wrapping kv.ErrInvalidArgument.
func ParsePath(path string) (Path, error) {
	u, err := url.Parse(path)
	if err != nil {
		return Path{}, kv.InvalidArgument("tikv path: %v", err)
	}
	if !strings.EqualFold(u.Scheme, "tikv") {
		return Path{}, kv.InvalidArgument("tikv path: scheme %q, want tikv", u.Scheme)
	}
	if u.Host == "" {
		return Path{}, kv.InvalidArgument("tikv path %q names no PD endpoint", path)
	}
	p := Path{PDAddrs: strings.Split(u.Host, ",")}
	for i, a := range p.PDAddrs {
		if a == "" {
			return Path{}, kv.InvalidArgument("tikv path %q: PD endpoint %d is empty", path, i+1)
		}
	}
	q := u.Query()
	switch v := q.Get("disableGC"); strings.ToLower(v) {
	case "true":
		p.DisableGC = true
	case "false", "":
	default:
		return Path{}, kv.InvalidArgument("tikv path: disableGC is %q, want true or false", v)
	}
	p.KeyspaceName = q.Get("keyspaceName")
	return p, nil
}

// Options returns the Connect options the path asks for: WithKeyspace when
// it names a keyspace, nothing otherwise.
//
//	p, err := tikv.ParsePath(storePath)
//	...
//	cluster, err := tikv.Connect(ctx, p.PDAddrs, append(p.Options(), tikv.WithLogger(l))...)
func (p Path) Options() []Option {
	if p.KeyspaceName == "" {
		return nil
	}
	return []Option{WithKeyspace(p.KeyspaceName)}
}
