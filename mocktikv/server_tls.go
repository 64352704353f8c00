package mocktikv

import "crypto/tls"

// WithTLS makes Serve speak TLS with cfg on PD and every store (as a
// cluster with security enabled does); cfg may require client
// certificates. PD then advertises https:// URLs. The in-process PD() and
// Sender() are unaffected.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// urlScheme is the scheme PD advertises for its members.
func (c *Cluster) urlScheme() string {
	if c.tls != nil {
		return "https://"
	}
	return "http://"
}
