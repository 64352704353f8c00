package mocktikv

// registerAdminHandlers adds store- and region-level commands that are not
// data reads or writes (SplitRegion, GetStoreSafeTS, ...).
func registerAdminHandlers(t handlerTable) {}
