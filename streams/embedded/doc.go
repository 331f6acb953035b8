// Package embedded runs the NATS server with JetStream that godwit serve
// starts in-process by default, so that a single binary needs no separate
// message broker.
//
// The server keeps its JetStream store under the data directory (never a
// shared temp dir), names its JetStream domain after the region (so the same
// subjects work unchanged once regions join a supercluster), runs with
// explicit storage limits, and leaves signal handling to godwit.
//
//	srv, err := embedded.Start(embedded.Config{
//		StoreDir: filepath.Join(dataDir, "nats"),
//		Domain:   region,
//		Listen:   "127.0.0.1:4222", // or "-" for in-process connections only
//	})
//	...
//	nc, err := srv.Connect(nats.ReconnectBufSize(-1))
//	...
//	defer srv.Shutdown()
package embedded
