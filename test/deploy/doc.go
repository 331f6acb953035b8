// Package deploy checks the example deployments under deploy/ (which holds
// no Go code): every NATS configuration file loads with the nats-server
// library, the supercluster and leaf-node topologies actually form on
// loopback (each region's JetStream reachable from the others through its
// domain, control subjects crossing regions), and every godwit YAML config
// is accepted by the godwit binary, which is started against those
// topologies.
//
//	go test ./test/deploy
package deploy
