package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/wire"
)

// The same shapes without DecodeFast: what encoding/json alone makes of a body.
type (
	slowGet    GetItemInput
	slowPut    PutItemInput
	slowDelete DeleteItemInput
	slowUpdate UpdateItemInput
)

var decodeSeeds = []string{
	`{"TableName":"bench","Key":{"pk":{"S":"p1"},"sk":{"S":"s1"}}}`,
	`{"TableName":"bench","Key":{"pk":{"S":"p1"}},"ConsistentRead":true,"ProjectionExpression":"#a, b","ExpressionAttributeNames":{"#a":"a"},"ReturnConsumedCapacity":"TOTAL"}`,
	`{"TableName":"bench","Item":{"pk":{"S":"p1"},"sk":{"S":"s1"},"v":{"S":"xxxxxxxx"},"n":{"N":"1.5"},"l":{"L":[{"BOOL":true},{"NULL":true}]},"m":{"M":{"a":{"SS":["x","y"]}}}}}`,
	`{"TableName":"bench","Item":{"pk":{"S":"p"}},"ConditionExpression":"attribute_not_exists(pk)","ReturnValues":"ALL_OLD","ReturnValuesOnConditionCheckFailure":"ALL_OLD","ReturnItemCollectionMetrics":"SIZE"}`,
	`{"TableName":"bench","Key":{"pk":{"S":"p"},"sk":{"S":"s"}},"UpdateExpression":"SET v = :v ADD c :one","ExpressionAttributeValues":{":v":{"S":"x"},":one":{"N":"1"}},"ReturnValues":"UPDATED_NEW"}`,
	`{"TableName":"t","Key":{"pk":{"B":"AAEC"}},"Expected":{"a":{"Exists":false}},"ConditionalOperator":"AND"}`,
	`{"TableName":"t","Key":{"pk":{"S":"p"}},"AttributeUpdates":{"a":{"Action":"PUT","Value":{"N":"2"}}},"AttributesToGet":["a"]}`,
	` { "TableName" : "t" , "Key" : { "pk" : { "N" : "7" } } } `,
}

// mutate damages or rearranges a body in one of the ways the fast decoders
// must hand back to encoding/json (or must decode identically).
func mutate(r *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	tokens := []string{`null`, `true`, `false`, `1`, `-0.5e3`, `"x"`, `"\u00e9"`, `"\\"`, `{}`, `[]`, `,`, `:`, `}`, `{`, `"`, `\`,
		`"tablename"`, `"TableName"`, `"Key"`, `"Item"`, `"ConsistentRead"`, "\xff", " ", `"é"`, `{"S":"a"}`}
	switch r.IntN(4) {
	case 0: // delete a byte range
		if len(b) > 0 {
			i := r.IntN(len(b))
			j := min(len(b), i+r.IntN(4)+1)
			b = append(b[:i], b[j:]...)
		}
	case 1: // insert a token
		i := r.IntN(len(b) + 1)
		tok := tokens[r.IntN(len(tokens))]
		b = append(b[:i], append([]byte(tok), b[i:]...)...)
	case 2: // replace a byte
		if len(b) > 0 {
			const repl = "{}[]\":,ntf0 \\x"
			b[r.IntN(len(b))] = repl[r.IntN(len(repl))]
		}
	case 3: // duplicate a member (text after a comma)
		if len(b) > 2 {
			i := 1 + r.IntN(len(b)-2)
			b = append(b[:len(b)-1], append([]byte(","), b[i:]...)...)
		}
	}
	return b
}

// checkSameDecode asserts that wire.Decode (which offers the body to
// DecodeFast first) gives what encoding/json alone gives: the same error,
// or the same value. It also checks DecodeFast accepts only bodies
// encoding/json decodes without error into the same value.
func checkSameDecode(t *testing.T, body []byte) {
	t.Helper()
	check := func(fast wire.FastDecoder, viaDecode any, slow any) {
		t.Helper()
		fastOK := fast.DecodeFast(body)
		errFast := wire.Decode(body, viaDecode)
		errSlow := wire.Decode(body, slow)
		if !reflect.DeepEqual(errFast, errSlow) {
			t.Fatalf("body %q: Decode error %v, encoding/json alone %v", body, errFast, errSlow)
		}
		if fastOK && errSlow != nil {
			t.Fatalf("body %q: DecodeFast accepted what encoding/json rejects: %v", body, errSlow)
		}
		sv := reflect.ValueOf(slow).Elem().Convert(reflect.TypeOf(viaDecode).Elem()).Interface()
		if errSlow == nil && !reflect.DeepEqual(reflect.ValueOf(viaDecode).Elem().Interface(), sv) {
			t.Fatalf("body %q: Decode gave %+v, encoding/json alone %+v", body, viaDecode, sv)
		}
		if fastOK && !reflect.DeepEqual(reflect.ValueOf(fast).Elem().Interface(), sv) {
			t.Fatalf("body %q: DecodeFast gave %+v, encoding/json alone %+v", body, fast, sv)
		}
	}
	check(&GetItemInput{}, &GetItemInput{}, &slowGet{})
	check(&PutItemInput{}, &PutItemInput{}, &slowPut{})
	check(&DeleteItemInput{}, &DeleteItemInput{}, &slowDelete{})
	check(&UpdateItemInput{}, &UpdateItemInput{}, &slowUpdate{})
}

func TestFastDecodeSeedsTakeFastPath(t *testing.T) {
	var get GetItemInput
	if !get.DecodeFast([]byte(decodeSeeds[1])) || !get.ConsistentRead || *get.ProjectionExpression != "#a, b" || get.ExpressionAttributeNames["#a"] != "a" {
		t.Fatalf("GetItem seed: %+v", get)
	}
	var put PutItemInput
	if !put.DecodeFast([]byte(decodeSeeds[2])) || len(put.Item) != 6 || put.TableName != "bench" {
		t.Fatalf("PutItem seed: %+v", put)
	}
	var upd UpdateItemInput
	if !upd.DecodeFast([]byte(decodeSeeds[4])) || *upd.UpdateExpression != "SET v = :v ADD c :one" || len(upd.ExpressionAttributeValues) != 2 {
		t.Fatalf("UpdateItem seed: %+v", upd)
	}
	// Shapes left to encoding/json.
	for _, body := range []string{
		decodeSeeds[5], decodeSeeds[6],
		`{"tablename":"t","Key":{"pk":{"S":"p"}}}`,
		`{"TableName":"t","TableName":"u","Key":{"pk":{"S":"p"}}}`,
		`{"TableName":"t\n","Key":{"pk":{"S":"p"}}}`,
		`{"TableName":null,"Key":{"pk":{"S":"p"}}}`,
		`{"TableName":"t","Key":{"pk":{"S":"p"}}}x`,
	} {
		if (&DeleteItemInput{}).DecodeFast([]byte(body)) {
			t.Errorf("DecodeFast accepted %s", body)
		}
	}
	// A pointer the receiver already holds is merged into by encoding/json.
	pe := "old"
	upd = UpdateItemInput{UpdateExpression: &pe}
	if upd.DecodeFast([]byte(decodeSeeds[4])) {
		t.Error("DecodeFast overwrote a held pointer")
	}
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	for _, s := range decodeSeeds {
		checkSameDecode(t, []byte(s))
	}
	for range 20000 {
		b := []byte(decodeSeeds[r.IntN(len(decodeSeeds))])
		for range 1 + r.IntN(3) {
			b = mutate(r, b)
		}
		checkSameDecode(t, b)
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecode(t, body)
	})
}

// TestGetItemRawJSON checks the hand-built GetItem body against
// encoding/json's (as the wire layer would encode the struct).
func TestGetItemRawJSON(t *testing.T) {
	for _, js := range []string{
		`{}`,
		`{"pk":{"S":"p"},"v":{"S":"<&>\u2028\u2029\u00e9\"\\\n"},"n":{"N":"-1.5E3"},"b":{"B":"AAEC"},"l":{"L":[{"NULL":true},{"BOOL":false}]},"m":{"M":{"z":{"NS":["1","2"]},"a":{"BS":["AA=="]}}},"ss":{"SS":["x","y"]}}`,
	} {
		item, err := attr.DecodeItemJSON([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		out := &getItemOutput{Item: &item}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			t.Fatal(err)
		}
		if got := out.rawJSON(attr.ItemSize(item)); string(got)+"\n" != want.String() {
			t.Errorf("rawJSON = %s, encoding/json %s", got, want.String())
		}
	}
	if got := (&getItemOutput{}).rawJSON(0); got != nil {
		t.Errorf("rawJSON of no item = %q, want nil ({})", got)
	}
}
