package wire

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"strconv"
	"sync"

	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Content types the API speaks. A response echoes the request's.
const (
	contentTypeAmzJSON = "application/x-amz-json-1.0"
	contentTypeJSON    = "application/json"
)

// Header values shared by all responses. net/http never modifies a header
// value slice, so sharing them saves an allocation per response.
var (
	hdrAmzJSON   = []string{contentTypeAmzJSON}
	hdrJSON      = []string{contentTypeJSON}
	hdrTextPlain = []string{"text/plain; charset=utf-8"}
)

// Canonical header keys, used to index http.Header directly.
const (
	hdrKeyContentType   = "Content-Type"
	hdrKeyContentLength = "Content-Length"
	hdrKeyRequestID     = "X-Amzn-Requestid" // x-amzn-RequestId
	hdrKeyCRC32         = "X-Amz-Crc32"      // x-amz-crc32
)

// emptyObject is the response body of an operation with nothing to return.
var emptyObject = []byte("{}")

// bufPool holds response encoding buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps a rare huge response from pinning its buffer forever.
const maxPooledBuf = 1 << 20

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuf {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// writeBody sends one complete response: Content-Type, Content-Length,
// x-amzn-RequestId and x-amz-crc32 (CRC32 IEEE of exactly body), then body.
func writeBody(w http.ResponseWriter, status int, contentType []string, id *[requestIDLen]byte, body []byte) {
	// NB: one string and one slice allocation carry all three computed
	// header values.
	var scratch [requestIDLen + 10 + 20]byte
	b := append(scratch[:0], id[:]...)
	b = strconv.AppendUint(b, uint64(crc32.ChecksumIEEE(body)), 10)
	crcEnd := len(b)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	s := string(b)
	vals := make([]string, 3)
	vals[0], vals[1], vals[2] = s[:requestIDLen], s[requestIDLen:crcEnd], s[crcEnd:]

	h := w.Header()
	h[hdrKeyContentType] = contentType
	h[hdrKeyRequestID] = vals[0:1:1]
	h[hdrKeyCRC32] = vals[1:2:2]
	h[hdrKeyContentLength] = vals[2:3:3]
	w.WriteHeader(status)
	_, _ = w.Write(body) // NB: a write error means the client is gone; nothing to do.
}

// encodeResult appends the JSON of an Op's result to buf and returns the
// body to send (which may alias res rather than buf).
func encodeResult(buf *bytes.Buffer, res any) ([]byte, error) {
	switch v := res.(type) {
	case nil:
		return emptyObject, nil
	case RawJSON:
		if len(v) == 0 {
			return emptyObject, nil
		}
		return v, nil
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	body = body[:len(body)-1] // Encode's trailing newline
	if string(body) == "null" {
		// A typed nil (e.g. (*Output)(nil)) means "nothing to return".
		return emptyObject, nil
	}
	return body, nil
}

// appendError appends DynamoDB's error envelope for e:
//
//	{"__type":"<namespace>#<Code>","message":"..."}
//
// with "Message" when e.CapitalMessage, no message member when the message is
// empty (as AWS sends SerializationException for malformed JSON), "Item" when
// set, and "CancellationReasons" when set.
func appendError(b []byte, e *apierr.Error) ([]byte, error) {
	ns := e.Namespace
	if ns == "" {
		ns = apierr.NSDynamoDB
	}
	b = append(b, `{"__type":`...)
	b = attr.AppendJSONString(b, ns+"#"+e.Code)
	if e.Message != "" {
		if e.CapitalMessage {
			b = append(b, `,"Message":`...)
		} else {
			b = append(b, `,"message":`...)
		}
		b = attr.AppendJSONString(b, e.Message)
	}
	if e.Item != nil {
		item, err := json.Marshal(e.Item)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"Item":`...)
		b = append(b, item...)
	}
	if e.CancellationReasons != nil {
		reasons, err := json.Marshal(e.CancellationReasons)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"CancellationReasons":`...)
		b = append(b, reasons...)
	}
	return append(b, '}'), nil
}
