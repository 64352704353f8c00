package mocktikv

// registerStoreHandlers adds store-level read-path commands
// (GetStoreSafeTS, ...).
func registerStoreHandlers(t handlerTable) {}
