// Command loadgen is a lean load generator for DynamoDB-compatible servers
// speaking the JSON 1.0 protocol over plain HTTP (godwit, dynalite, DynamoDB
// Local, the ceiling server).
//
// It keeps -conns keep-alive connections busy (closed loop) or issues a fixed
// -rate of requests (open loop, latency measured from each request's due time),
// with request bodies pre-built as templates so the hot path only appends key
// digits and a payload window. Every response status is checked; errors are
// counted by HTTP status and DynamoDB exception name.
//
//	loadgen -endpoint http://127.0.0.1:8000 -create -preload 100000 \
//	    -op put=50,get=30,query=10,update=10 -conns 64 -duration 10s
//
// Each run prints one human line on stderr and one JSON line on stdout:
//
//	{"target":"...","op":"put","ops_per_sec":...,"p50_ms":...,"p99_ms":...,"p999_ms":...,"errors":0,...}
//
// With -load N it only writes items 0..N-1 as fast as possible and reports
// that phase as op "load" (used for the memory check in run.sh).
//
// Items: pk "p<10 digits>" (HASH), sk "s<6 digits>" (RANGE), v a random
// alphanumeric string sized so the item is -item-size bytes by DynamoDB's
// size rule. Item i has pk i/per-pk and sk i%per-pk, so a Query returns
// -per-pk items. See ../README.md.
package main
