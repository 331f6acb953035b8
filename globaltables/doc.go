// Package globaltables replicates tables between regions (Global Tables,
// version 2019.11.21).
//
// A Manager (manager.go) runs the replica management of one region: it
// serves UpdateTable's ReplicaUpdates and DescribeTable's Replicas through
// the engine's ReplicaHooks, answers the other regions on
// gw.ctl.<region>.<verb>, persists each global table's ReplicaSet in the
// engine, and runs a Driver per (peer, table):
//
//	m, err := globaltables.NewManager(globaltables.ManagerConfig{
//		DB: db, Conn: localNATS,
//		Peers: map[string]globaltables.Peer{"us-west-2": {Conn: nc, JetStream: js}}})
//	defer m.Close()
//
// The Manager also keeps the settings AWS synchronises (TTL, GSIs created
// or deleted later, billing mode and write capacity) the same in every
// replica (settings.go): each is a versioned entry of the replica set,
// recorded when a client changes it here (compared with what the region
// last observed) and applied elsewhere with engine.DB.ApplyReplicaTTL and
// ApplyReplicaUpdate, compare-and-set on the table's SettingsGen. Tags and
// read capacity stay per region.
//
// A Driver (driver.go) replicates one table from one
// peer region: it reads the peer's change stream over NATS JetStream with
// the streams consumer library and applies it with engine.ApplyRemote
// (last-writer-wins, exactly-once positions):
//
//	d, err := globaltables.NewDriver(globaltables.DriverConfig{
//		Peer: "us-west-2", Table: "Orders", PeerJetStream: js, DB: db})
//	err = d.Start(ctx)
//	defer d.Stop()
//
// Its decisions come from the replicator core, in the style of etcd raft:
// a Replicator does no I/O,
// starts no goroutine and never reads the clock. Its driver feeds it
// events (Deliver, Applied, Tick, Trimmed, Restore) and carries out the
// effects it returns from Ready, then calls Advance:
//
//	r, err := globaltables.NewReplicator(globaltables.Config{Peer: "us-west-2"})
//	r.Restore(durablePositions)            // from the engine, at start
//	for {
//		select {
//		case rec := <-records:             // the peer's stream, via streams.Consumer
//			err = r.Deliver(rec)
//		case <-ticker.C:
//			r.Tick()
//		}
//		if r.HasReady() {
//			rd := r.Ready()
//			for _, b := range rd.Batches { // per partition, in order
//				engineApply(b.From, b.Position, b.Apply) // one Pebble batch, LWW via Decide
//				r.Applied(b.Partition, b.Position.StreamSeq)
//			}
//			// rd.ReReads: reopen those partitions' readers after ReRead.After
//			// rd.Resync: the table must resynchronise from a snapshot
//			r.Advance(rd)
//		}
//	}
//
// Records of the peer's stream are told apart by their outbox sequences
// (Change.Seq: 1, 2, 3, ... per partition). A message may carry several
// consecutive records (streams layout 2); the driver's reader does not
// decode a message of another origin and hands it as one record carrying
// its last record's outbox sequence, with Record.FirstChangeSeq naming the
// first: the core takes such a record as all the records it stands for
// (skipped, never applied), not as a gap.
//
// Decide is the last-writer-wins rule the engine applies to each handed
// change, atomically with reading the stored item or tombstone.
//
// A new replica is filled from a consistent snapshot of a peer's table
// (engine.DB.SnapshotTable), served by the peer's SnapshotServer over NATS
// request-reply (gw.ctl.<region>.snapshot.open/next/close) and pulled and
// applied by Backfill with last-writer-wins; Backfill then stores where to
// read each region's stream from (the snapshot's own outbox position for
// the peer, the peer's applied positions for the others), never lowering a
// position a driver already reached. A backfill writes no stream records:
// copying state is not a change made here.
//
//	srv, err := globaltables.NewSnapshotServer(globaltables.SnapshotServerConfig{Conn: nc, DB: db})
//	stats, err := globaltables.Backfill(ctx, globaltables.BackfillConfig{
//		Peer: "us-west-2", PeerConn: peerNC, DB: db, Table: "Orders"})
//
// When the peer's stream was trimmed past a driver's position (an outage
// longer than retention), the driver resynchronises from a snapshot
// (Backfill with Resync: the changes are recorded in the local stream,
// items the peer deleted meanwhile are swept by the rule of
// engine.SnapshotSweep, a local write the peer never saw survives), then
// goes on from the new positions; DriverStatus, a warning and
// godwit_replication_resyncs_total say so. docs/global-tables.md,
// "Backfill and resync", has the details.
//
// Conflicts (conflictlog.go): the engine reports each change that
// last-writer-wins decided against a concurrent version
// (conflict.Classify); the driver counts them in
// godwit_replication_conflicts_total{table,source,outcome} and hands a
// ConflictRecord to the region's ConflictLog, which appends it to the
// GW_CONFLICTS stream without blocking (dropping and counting on
// overflow); ReadConflicts reads it back (godwit conflicts).
//
//	log, err := globaltables.NewConflictLog(globaltables.ConflictLogConfig{JetStream: localJS, Region: "us-east-1"})
//	d, err := globaltables.NewDriver(globaltables.DriverConfig{..., Conflicts: log})
//
// Verification (digest.go, verify.go): a DigestServer answers digest
// requests about the local engine on gw.ctl.<region>.digest; Verify asks
// every region and reports the keys whose replicas differ (godwit verify).
//
//	srv, err := globaltables.NewDigestServer(globaltables.DigestServerConfig{Conn: nc, DB: db})
//	rep, err := globaltables.Verify(ctx, globaltables.VerifyConfig{Table: "Orders", Regions: regions})
//
// docs/global-tables.md describes the behaviour (Conflicts, Verify,
// Tombstones, Clock skew).
package globaltables
