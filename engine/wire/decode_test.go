package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/godwit-db/godwit/engine/apierr"
)

// decodeTarget has one member of each shape a DynamoDB request uses.
type decodeTarget struct {
	TableName       string            `json:"TableName"`
	Limit           *int32            `json:"Limit"`
	Segment         int               `json:"Segment"`
	Big             int64             `json:"Big"`
	Rate            float64           `json:"Rate"`
	ConsistentRead  *bool             `json:"ConsistentRead"`
	AttributesToGet []string          `json:"AttributesToGet"`
	Names           map[string]string `json:"ExpressionAttributeNames"`
	Throughput      *struct {
		ReadCapacityUnits int64 `json:"ReadCapacityUnits"`
	} `json:"ProvisionedThroughput"`
	Blob  []byte    `json:"Blob"`
	Value *strictAV `json:"Value"`
}

// strictAV stands for an attribute value decoder that reports its own
// *apierr.Error.
type strictAV struct{ S string }

func (a *strictAV) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
		return apierr.Validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	return nil
}

func TestDecodeAccepts(t *testing.T) {
	var v decodeTarget
	body := `{"TableName":"t","Limit":10,"Segment":2,"Big":9007199254740993,"Rate":0.5,"ConsistentRead":true,
		"AttributesToGet":["a","b"],"ExpressionAttributeNames":{"#a":"a"},"ProvisionedThroughput":{"ReadCapacityUnits":5},
		"Blob":"AAEC","Value":{"S":"x"},"Unknown":{"ignored":[1,2,3]},"Nulled":null}`
	if err := Decode([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.TableName != "t" || *v.Limit != 10 || v.Segment != 2 || v.Big != 9007199254740993 || v.Rate != 0.5 ||
		!*v.ConsistentRead || len(v.AttributesToGet) != 2 || v.Names["#a"] != "a" || v.Throughput.ReadCapacityUnits != 5 ||
		string(v.Blob) != "\x00\x01\x02" || v.Value == nil {
		t.Errorf("decoded %+v", v)
	}
	for _, empty := range []string{"", "null", "{}", " {} "} {
		v := decodeTarget{TableName: "keep"}
		if err := Decode([]byte(empty), &v); err != nil || v.TableName != "keep" {
			t.Errorf("Decode(%q) = %v, %+v", empty, err, v)
		}
	}
	// A null member is absent, as AWS treats it.
	v = decodeTarget{}
	if err := Decode([]byte(`{"Limit":null,"TableName":null}`), &v); err != nil || v.Limit != nil {
		t.Errorf("null members: %v %+v", err, v)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		body, msg string
	}{
		// Wording from AWS as recorded by dynalite's validations/index.js.
		{`{"TableName":{}}`, "Start of structure or map found where not expected."},
		{`{"TableName":[]}`, "Start of list found where not expected"},
		{`{"TableName":true}`, "class java.lang.Boolean can not be converted to an String"},
		{`{"TableName":12}`, "class java.lang.Short can not be converted to an String"},
		{`{"TableName":70000}`, "class java.lang.Integer can not be converted to an String"},
		{`{"TableName":3000000000}`, "class java.lang.Long can not be converted to an String"},
		{`{"TableName":1.5}`, "class java.lang.Double can not be converted to an String"},
		{`{"Limit":"10"}`, "class java.lang.String can not be converted to an Integer"},
		{`{"Limit":true}`, "class java.lang.Boolean can not be converted to an Integer"},
		{`{"Big":"1"}`, "class java.lang.String can not be converted to an Long"},
		{`{"Rate":"x"}`, "class java.lang.String can not be converted to an Double"},
		{`{"Segment":[1]}`, "Start of list found where not expected"},
		{`{"ConsistentRead":"yes"}`, "'YES' can not be converted to an Boolean"},
		{`{"ConsistentRead":"a\"b"}`, "'A\"B' can not be converted to an Boolean"},
		{`{"ConsistentRead":1}`, "class java.lang.Short can not be converted to an Boolean"},
		{`{"ConsistentRead":{}}`, "Start of structure or map found where not expected."},
		{`{"AttributesToGet":"a"}`, "Expected list or null"},
		{`{"AttributesToGet":{}}`, "Start of structure or map found where not expected."},
		{`{"AttributesToGet":[1]}`, "class java.lang.Short can not be converted to an String"},
		{`{"ExpressionAttributeNames":"a"}`, "Expected map or null"},
		{`{"ExpressionAttributeNames":[]}`, "Start of list found where not expected"},
		{`{"ExpressionAttributeNames":{"#a":1}}`, "class java.lang.Short can not be converted to an String"},
		{`{"ProvisionedThroughput":"x"}`, "Expected null"},
		{`{"ProvisionedThroughput":[]}`, "Start of list found where not expected"},
		{`{"Blob":true}`, "class java.lang.Boolean can not be converted to a Blob"},
		{`{"Blob":"abc"}`, "Base64 value can not be converted to a Blob: Invalid Base64 data at input byte 0"},
		{`[]`, "Start of list found where not expected"},
		{`"x"`, "Expected null"},
	} {
		err := Decode([]byte(c.body), &decodeTarget{})
		e := apierr.As(err)
		if e == nil || e.Code != "SerializationException" || e.Namespace != apierr.NSService || e.Status != 400 || !e.CapitalMessage {
			t.Errorf("Decode(%s) = %#v, want SerializationException with capital Message", c.body, err)
			continue
		}
		if e.Message != c.msg {
			t.Errorf("Decode(%s) message %q, want %q", c.body, e.Message, c.msg)
		}
	}

	// Malformed JSON: no message, as AWS sends it.
	for _, body := range []string{`{`, `{"a":}`, `{} x`, `nul`, "{\"a\":\"\x00\"}"} {
		e := apierr.As(Decode([]byte(body), &decodeTarget{}))
		if e == nil || e.Code != "SerializationException" || e.Message != "" {
			t.Errorf("Decode(%q) = %v, want SerializationException without message", body, e)
		}
	}

	// An Unmarshaler's own API error passes through untouched.
	e := apierr.As(Decode([]byte(`{"Value":{"S":"a","N":"1"}}`), &decodeTarget{}))
	if e == nil || e.Code != "ValidationException" {
		t.Errorf("Unmarshaler error = %v, want the ValidationException", e)
	}

	// Programming errors are not client errors.
	var notPtr decodeTarget
	if err := Decode([]byte(`{}`), notPtr); err == nil || apierr.As(err) != nil {
		t.Errorf("non-pointer: %v", err)
	}
	var invalid *json.InvalidUnmarshalError
	if err := Decode([]byte(`{}`), nil); !errors.As(err, &invalid) {
		t.Errorf("nil target: %v", err)
	}
}

func TestLiteralScanners(t *testing.T) {
	body := []byte(`{"a":"x\\\"y","b":-1.5e3}`)
	if s, ok := stringLiteralBefore(body, 13); !ok || s != `x\"y` {
		t.Errorf("stringLiteralBefore = %q %v", s, ok)
	}
	if s := numberLiteralBefore(body, int64(len(body)-1)); s != "-1.5e3" {
		t.Errorf("numberLiteralBefore = %q", s)
	}
	for _, off := range []int64{-1, 0, 1, 2, int64(len(body)), int64(len(body)) + 5} {
		stringLiteralBefore(body, off)
		numberLiteralBefore(body, off)
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `1`, `{`, `{"TableName":"t"}`, `{"TableName":{}}`, `{"Limit":"10"}`,
		`{"Limit":1.5}`, `{"Limit":1e400}`, `{"ConsistentRead":"a\"b\\"}`, `{"ConsistentRead":"\u00e9"}`,
		`{"AttributesToGet":["a",1,true,null,{}]}`, `{"ExpressionAttributeNames":{"#a":[]}}`,
		`{"ProvisionedThroughput":{"ReadCapacityUnits":"5"}}`, `{"Blob":"AAE="}`, `{"Blob":"!!!!"}`,
		`{"Value":{"S":"a"}}`, `{"Value":[]}`, `{"Big":-9223372036854775809}`, "{\"TableName\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := Decode(body, &v)
		if err == nil {
			return
		}
		e := apierr.As(err)
		if e == nil {
			t.Fatalf("Decode(%q) = non-API error %v", body, err)
		}
		if e.Status != 400 || (e.Code != "SerializationException" && e.Code != "ValidationException") {
			t.Fatalf("Decode(%q) = %#v", body, e)
		}
		// The error must always be sendable.
		out, mErr := appendError(nil, e)
		if mErr != nil || !json.Valid(out) {
			t.Fatalf("Decode(%q): envelope %q invalid: %v", body, out, mErr)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add(sigV4, "20260101T000000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e//", "")
	f.Add("AWS4-", "x")
	f.Add("AWS4-HMAC-SHA256 ,,,===, Credential=/////", "d")
	f.Fuzz(func(t *testing.T, auth, date string) {
		sig, err := ParseSignature(auth, date)
		if err != nil {
			if e := apierr.As(err); e == nil || e.Status != 400 {
				t.Fatalf("ParseSignature(%q) = %v", auth, err)
			}
			return
		}
		if sig.Algorithm != sigV4Algorithm || sig.Signature == "" || sig.SignedHeaders == "" || sig.RequestTime == "" {
			t.Fatalf("ParseSignature(%q) accepted %+v", auth, sig)
		}
	})
}

// FuzzServeHTTP feeds arbitrary bodies and headers through the whole
// handler: it must never panic and always answer with a checksummed body.
func FuzzServeHTTP(f *testing.F) {
	f.Add([]byte(`{"TableName":"t"}`), testPrefix+".GetItem", contentTypeAmzJSON, "", sigV4)
	f.Add([]byte(`{"TableName":1}`), testPrefix+".GetItem", contentTypeJSON, "identity", "")
	f.Add([]byte("\x1f\x8b\x08\x00"), testPrefix+".GetItem", contentTypeAmzJSON, "gzip", "AWS4-")
	f.Add([]byte(`{`), "x", "text/plain", "br", "Basic x")
	srv := NewServer(Config{MaxBodyBytes: 1 << 16})
	srv.Register(testPrefix, map[string]Op{"GetItem": func(_ context.Context, body []byte) (any, error) {
		var in decodeTarget
		if err := Decode(body, &in); err != nil {
			return nil, err
		}
		return in, nil
	}})
	f.Fuzz(func(t *testing.T, body []byte, target, contentType, encoding, authz string) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		for k, v := range map[string]string{"X-Amz-Target": target, "Content-Type": contentType,
			"Content-Encoding": encoding, "Authorization": authz} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		got := w.Body.Bytes()
		if crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(got)), 10); w.Header().Get("X-Amz-Crc32") != crc {
			t.Fatalf("crc header %q for body %q", w.Header().Get("X-Amz-Crc32"), got)
		}
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, got)
		}
		if w.Code != 404 && !json.Valid(got) {
			t.Fatalf("status %d with invalid JSON %q", w.Code, got)
		}
	})
}
