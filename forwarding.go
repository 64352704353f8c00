package tikv

// WithForwarding turns forwarding via a follower proxy on or off (off by
// default, as client-go's EnableForwarding). With it on, a write or leader
// read whose leader's store the client cannot reach (its health check
// fails) while the leader has not said it is not the leader is sent to a
// reachable follower of the region, which forwards it to the leader with
// TiKV's tikv-forwarded-host metadata; this rides out a network partition
// between the client and one store without waiting for a leader election.
// Each follower is tried once per request; the proxy that worked is reused
// for the region until the leader is reachable again; when every follower
// failed, the leader's store is re-checked and the region reloaded from PD.
// See pipeline.Forwarding.
func WithForwarding(on bool) Option {
	return func(c *config) { c.forwarding = on }
}
