// Package auditlog is the sink target that appends every record to a
// tamper-evident log on disk: JSON lines, hash-chained with SHA-256, in
// numbered segment files, with the writer's identity. Verify (and `godwit
// audit verify DIR`) detects any edited, removed, reordered or truncated
// entry, and removed or renamed segments, and says where.
//
//	l, err := auditlog.New(auditlog.Config{Dir: "/var/lib/godwit/audit/orders"})
//	_, err = l.Deliver(ctx, batch) // durable (fsynced) when it returns
//	rep, err := auditlog.Verify("/var/lib/godwit/audit/orders")
//
// # Files
//
// Dir holds segments audit-00000001.jsonl, audit-00000002.jsonl, ...
// (numbered from 1 without gaps) and head.json. A new segment starts when
// the next entry would take the current one past MaxBytes, or when the
// entry comes MaxAge or more after the segment's first entry (checked as
// entries are appended: an idle log does not rotate).
//
// # Entries
//
// One JSON object per line, members in this order:
//
//	{"v":1,"seq":42,"time":"2026-03-04T05:06:07.123456789Z",
//	 "consumer":"audit","table":"Orders","shardId":"shardId-...",
//	 "eventID":"...","eventName":"MODIFY","sequenceNumber":"100000000000000000042",
//	 "identity":{"accessKeyId":"AKID...","originRegion":"us-east-1"},
//	 "record":{...the stream record as a Lambda event carries it...},
//	 "prev":"<hash of entry 41>","hash":"<hash of this entry>"}
//
// seq counts entries from 1 across segments; time is when the entry was
// appended. identity carries the access key that made the change (when
// known), the region where it was made, and a TTL delete's
// userIdentity (type Service, principalId dynamodb.amazonaws.com). The
// keys and images are the record's, as the stream's view type has them
// (record.dynamodb.Keys, NewImage, OldImage).
//
// hash is the lowercase hex SHA-256 of the line without its hash member:
// the exact bytes up to `,"hash":` followed by `}`. prev is the previous
// entry's hash, 64 zeros for the first entry of the log. The chain runs
// across segments: the first entry of a segment links to the last of the
// one before. head.json (rewritten in place and fsynced after each
// batch) records the last segment, seq and hash, so that entries removed
// from the end of the log are detected too. For protection against
// someone who can rewrite the whole directory, ship head.json's hash
// elsewhere (it is also in Report.LastHash).
//
// # Durability and errors
//
// Deliver appends one entry per record, fsyncs the segment (and the
// directory after creating a segment), then writes and fsyncs head.json,
// and only then returns: the runtime checkpoints after it. Every failure
// is sinks.ErrTransient, never a function error: an audit log must not
// skip a record after retries run out. Before each append the Log checks
// that its segment is still the file at its path; if the directory or file
// went away or was replaced, Deliver fails (ErrTransient) and, once it is
// back, reopens the log from disk. It never starts a new chain in a
// directory whose log is shorter than what it already wrote.
//
// # Crashes
//
// On open the chain resumes from the last segment. A torn last line (a
// crash in the middle of a write; its batch was not acknowledged) is
// truncated away, with a warning in the log. Any complete line that does
// not verify, or a log shorter than head.json records, makes New fail
// with ErrTampered: run Verify to see where. head.json may lag the
// segments by the one batch a crash interrupted between the two fsyncs;
// that is not a problem.
//
// Records delivered again after a crash or a retry (at-least-once) are
// appended again as new entries: the log records every delivery, and a
// reader that wants each change once keeps the first entry per eventID.
package auditlog
