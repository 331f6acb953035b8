package attr

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchItems are DynamoDB-JSON items of about 100 bytes and about 1 KB.
var benchItems = []struct {
	name string
	json string
}{
	{"100B", `{"pk":{"S":"user#12345"},"sk":{"S":"order#2024-01-01"},"qty":{"N":"3"},"price":{"N":"19.99"},"paid":{"BOOL":true}}`},
	{"1KB", `{"pk":{"S":"customer#000123456"},"sk":{"S":"profile"},` +
		`"name":{"S":"Ada Lovelace"},"email":{"S":"ada@example.com"},"age":{"N":"36"},"balance":{"N":"-1234.5678"},` +
		`"active":{"BOOL":true},"deleted":{"NULL":true},"avatar":{"B":"` + strings.Repeat("QUJD", 40) + `"},` +
		`"tags":{"SS":["admin","beta","early-adopter","math"]},"scores":{"NS":["1","2.5","99","1000000"]},` +
		`"address":{"M":{"street":{"S":"12 St James's Square"},"city":{"S":"London"},"zip":{"S":"SW1Y 4JH"},"geo":{"L":[{"N":"51.5074"},{"N":"-0.1278"}]}}},` +
		`"history":{"L":[` + strings.Repeat(`{"M":{"at":{"N":"1700000000"},"what":{"S":"login from 192.0.2.1"}}},`, 5) + `{"NULL":true}]},` +
		`"bio":{"S":"` + strings.Repeat("analytical engine notes ", 8) + `"}}`},
}

func BenchmarkUnmarshalItem(b *testing.B) {
	for _, bi := range benchItems {
		b.Run(bi.name, func(b *testing.B) {
			data := []byte(bi.json)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var it Item
				if err := it.UnmarshalJSON(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnmarshalItemViaEncodingJSON is the path a request takes: the
// item inside a request struct decoded by encoding/json.
func BenchmarkUnmarshalItemViaEncodingJSON(b *testing.B) {
	for _, bi := range benchItems {
		b.Run(bi.name, func(b *testing.B) {
			data := []byte(`{"TableName":"t","Item":` + bi.json + `}`)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var req struct {
					TableName string
					Item      Item
				}
				if err := json.Unmarshal(data, &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendItem(b *testing.B) {
	for _, bi := range benchItems {
		b.Run(bi.name, func(b *testing.B) {
			it, err := DecodeItemJSON([]byte(bi.json))
			if err != nil {
				b.Fatal(err)
			}
			buf := AppendItem(nil, it)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendItem(buf[:0], it)
			}
		})
	}
}

func BenchmarkDecodeItem(b *testing.B) {
	for _, bi := range benchItems {
		b.Run(bi.name, func(b *testing.B) {
			it, err := DecodeItemJSON([]byte(bi.json))
			if err != nil {
				b.Fatal(err)
			}
			enc := AppendItem(nil, it)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeItem(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendItemJSON(b *testing.B) {
	for _, bi := range benchItems {
		b.Run(bi.name, func(b *testing.B) {
			it, err := DecodeItemJSON([]byte(bi.json))
			if err != nil {
				b.Fatal(err)
			}
			buf := AppendItemJSON(nil, it)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendItemJSON(buf[:0], it)
			}
		})
	}
}

func BenchmarkAppendKey(b *testing.B) {
	vals := []Value{Str("customer#000123456"), num("-1234.5678")}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = AppendKey(buf, v)
		}
	}
}

func BenchmarkParseNumber(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseNumber("-1234.5678")
		_, _ = ParseNumber("1.5E2")
	}
}
