// Package sinkstest is the conformance suite every sink target passes, and
// the pieces a target's tests need to run it: realistic batches (Gen), the
// scripting convention receivers obey (Action), and a restartable loopback
// HTTP receiver (HTTPReceiver).
//
// A target's test builds a Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		sinkstest.Run(t, sinkstest.Harness{
//			Caps: sinkstest.Caps{Events: true, FunctionErrors: true},
//			New:  func(t *testing.T) *sinkstest.Instance { ... },
//		})
//	}
//
// Run checks delivery (the receiver gets exactly what Batch.Event() makes,
// record for record and in order, also under concurrent Deliver calls),
// failure reporting (function error vs ErrTransient, partial batch
// failures, where the Harness says the target supports them), and
// restart/reconnect (while the receiver is down Deliver returns
// ErrTransient; once it is back, delivery resumes with nothing lost).
//
// Receivers are scripted by the batch's content, so the same batches drive
// an HTTP server in the test process and a Lambda handler in a child
// process: see Action.
package sinkstest
