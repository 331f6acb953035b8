// Package nats is the sink target that republishes each record of a batch
// to a NATS subject, for other subscribers. Importers alias it
// (sinksnats), since nats.go's package has the same name.
//
//	t, err := sinksnats.New(nc, sinksnats.Config{Subject: "godwit.{table}.{eventName}", JetStream: true})
//
// Each record is one message: the data is the record's JSON exactly as a
// Lambda event carries it (the element of Records, eventSourceARN
// included), with headers
//
//	Nats-Msg-Id:            <eventID> (JetStream deduplicates redeliveries
//	                        within the stream's duplicate window)
//	Godwit-Table, Godwit-Shard-Id, Godwit-Sequence-Number, Godwit-Event-Name
//
// # Subject template
//
// Config.Subject is a NATS subject whose tokens may hold placeholders:
// {table}, {eventName} (INSERT, MODIFY, REMOVE), {region} (the record's
// awsRegion), {shardId}, {consumer}. Literal text may not hold
// whitespace, '*' or '>' and no token may be empty. A substituted value
// has '.', '*', '>' and whitespace replaced by '_' so it stays one token
// (a table named "a.b" publishes to godwit.a_b.INSERT).
//
// # Delivery and errors
//
// With JetStream the messages of a batch are published asynchronously in
// order and Deliver returns once every one is acknowledged (stored by the
// stream); without, they are published on core NATS and Deliver returns
// after a flush (the server has them; subscribers that are not there miss
// them, as core NATS does). A connection that is not connected, a flush
// or ack timeout (Config.Timeout), no stream for the subject, and any
// other NATS error is sinks.ErrTransient: the batch waits for NATS rather
// than being discarded. A message over the server's max payload, or over
// the stream's max message size, can never be published: that is a
// function error (ErrTooLarge), so the runtime can bisect it out. NATS
// reports no partial failures: on an error the whole batch is retried,
// and with JetStream, Nats-Msg-Id keeps the retried messages that were
// already stored from being stored twice.
package nats
