package mocktikv

// faultState holds the faults tests script into the cluster.
type faultState struct{}

func newFaultState() *faultState { return &faultState{} }
