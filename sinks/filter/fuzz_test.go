package filter

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrInvalid, and that a parsed pattern can be matched against a few
// events (and itself) without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"dynamodb":{"NewImage":{"status":{"S":["SHIPPED"]}}}}`,
		`{"eventName":["INSERT","MODIFY"]}`,
		`{"a":[{"prefix":"x"},{"suffix":"y"},{"equals-ignore-case":"Z"},{"wildcard":"a*b"}]}`,
		`{"a":[{"anything-but":["x",1,null]}],"b":[{"anything-but":{"prefix":"p"}}]}`,
		`{"n":[{"numeric":[">",0,"<=",5]}],"m":[{"numeric":["=",3]}]}`,
		`{"e":[{"exists":false}],"$or":[{"a":["1"]},{"b":[2]}]}`,
		`{"a":[null,"",true]}`,
		`[1]`, `{}`, `{"a":[]}`, `{"a":[[1]]}`, `{"a":[{"numeric":[">",1e999]}]}`,
	} {
		f.Add(s)
	}
	events := [][]byte{
		[]byte(`{}`),
		[]byte(`{"a":"xy","b":2,"n":3,"e":null,"dynamodb":{"NewImage":{"status":{"S":"SHIPPED"}}},"eventName":"INSERT"}`),
		[]byte(`{"a":["x",1,{"b":null}],"n":[1e400,-1],"m":{"n":1}}`),
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		p, err := Parse(pattern)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, ev := range append(events, []byte(pattern)) {
			_, _ = p.Match(ev)
		}
	})
}
