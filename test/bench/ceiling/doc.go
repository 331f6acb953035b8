// Command ceiling is the do-nothing DynamoDB server: it answers every POST
// with 200 and the body {} (Content-Type application/x-amz-json-1.0) after
// reading the request body. It shows what the load generator and the HTTP
// stack alone can do on this machine, the ceiling for any real server.
//
//	ceiling -listen 127.0.0.1:8001
//
// It prints "listening on ADDR" once the socket is open, so -listen with
// port 0 works too.
package main
