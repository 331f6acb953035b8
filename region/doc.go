// Package region assembles one regional godwit instance: the engine, NATS
// (an embedded server whose JetStream domain is the region's name, or an
// external one), the streams publisher, the DynamoDB and DynamoDB Streams
// APIs on one HTTP listener (with /metrics), and the global-tables Manager
// with its connections to the peer regions.
//
//	r, err := region.Start(ctx, region.Config{
//		Listen: "127.0.0.1:0", DataDir: dir, Region: "us-east-1",
//		Peers: map[string]region.Peer{"us-west-2": {URL: "nats://10.0.0.2:4222"}},
//	})
//	defer r.Close()
//	fmt.Println(r.URL(), r.NATSURL())
//
// It exists because DESIGN.md says cmd/godwit must not hold logic a test
// wants: the wiring used to live in `godwit serve`, and a multi-region test
// needs three regions in one process, each started, closed and restarted on
// its data directory exactly as `godwit serve` does it. cmd/godwit now only
// maps flags and YAML onto Config, handles signals and waits.
//
// Peers are reached over NATS only: a peer with a URL through a connection
// of its own (credentials and TLS per peer), a peer with only a JetStream
// domain through the local NATS connection (a supercluster or leaf nodes
// with JetStream domains, where subjects route between clusters).
package region
