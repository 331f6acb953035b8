// Package function is the sink target that runs an unmodified AWS Lambda
// handler (aws-lambda-go's lambda.Start, or any runtime that speaks the
// Lambda Runtime API) as child processes of godwit and feeds it each
// batch's Lambda event (sinks.Batch.Event).
//
//	f, err := function.New(function.Config{Name: "orders", Command: []string{"./bootstrap"}})
//	res, err := f.Deliver(ctx, batch) // one invocation
//	defer f.Close()
//
// # Runtime API
//
// Each handler process gets a loopback listener of its own
// (AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT) serving
//
//	GET  /2018-06-01/runtime/invocation/next           long poll; the event
//	POST /2018-06-01/runtime/invocation/{id}/response  the answer (202)
//	POST /2018-06-01/runtime/invocation/{id}/error     a function error (202)
//	POST /2018-06-01/runtime/init/error                init failed (202; the process is killed)
//
// /next answers with the headers aws-lambda-go reads:
// Lambda-Runtime-Aws-Request-Id (a UUID), Lambda-Runtime-Deadline-Ms (now
// + Timeout, epoch ms), Lambda-Runtime-Invoked-Function-Arn
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME) and Lambda-Runtime-Trace-Id
// (an X-Ray-shaped id, Sampled=0). Client context and Cognito identity
// headers are never sent. The Extensions and Telemetry APIs are not
// served (404): aws-lambda-go only uses them for its optional SIGTERM
// hook, and carries on without.
//
// # Environment
//
// A handler gets exactly Config.Env plus: AWS_LAMBDA_RUNTIME_API,
// AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION ($LATEST),
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME
// (/aws/lambda/NAME), AWS_LAMBDA_LOG_STREAM_NAME,
// AWS_LAMBDA_INITIALIZATION_TYPE (on-demand), AWS_REGION,
// AWS_DEFAULT_REGION, _HANDLER, TZ (:UTC) and, with Config.Dir,
// LAMBDA_TASK_ROOT. Config.Env wins over these except
// AWS_LAMBDA_RUNTIME_API. Nothing of godwit's environment leaks in (no
// credentials, no PATH) unless the caller puts it in Env. Its stdout and
// stderr go to the logger at info level, line by line.
//
// # Outcomes of Deliver
//
//   - /response: sinks.ParseResponse of the body (batchItemFailures,
//     state). A body over MaxResponseBytes is a function error
//     (Function.ResponseSizeTooLarge); so is an error reported in the
//     response's trailers (aws-lambda-go's streamed-response errors).
//   - /error: a *FunctionError with the handler's errorType and
//     errorMessage. The process lives on, as in Lambda.
//   - Timeout passing after the handler took the event: a *FunctionError
//     Sandbox.Timedout; the process is killed and restarted.
//   - the process exiting while it holds the event (a crash, a panic that
//     exits, an OOM kill): a *FunctionError Runtime.ExitError, as Lambda
//     counts a crash; the process is restarted. NB: a process that dies
//     while idle, in the instant it is handed the next event, is
//     indistinguishable from one that crashed on it.
//   - the process not reaching /next (it is starting, it exited during
//     init, it posted /init/error, the command does not exist, it did not
//     ask within InitTimeout): sinks.ErrTransient — the handler never saw
//     the event, so no retry attempt is used. A process stuck past
//     InitTimeout is killed and restarted.
//   - the caller's ctx ending: sinks.ErrTransient; the invocation goes on
//     in the handler (its process slot is busy until it ends or times out).
//
// # Processes and concurrency
//
// Config.Concurrency processes (default 1) run at once, each serving one
// invocation at a time, like Lambda execution environments. Deliver takes
// the first free one and waits (honouring ctx) when all are busy, so a
// consumer's ParallelizationFactor beyond Concurrency queues rather than
// fails. Processes start in New and are restarted by a supervisor when
// they exit, after a backoff that doubles from MinBackoff to MaxBackoff
// while processes exit without completing an invocation and falls back to
// MinBackoff once one has. Config.OnRestart is called on each restart
// (the runtime counts handler restarts with it). Close sends SIGTERM,
// then SIGKILL after ShutdownGrace.
package function
