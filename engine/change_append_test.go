package engine

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/godwit-db/godwit/engine/attr"
)

// TestAppendItemInPlace: appendItem writes exactly a uvarint length and
// attr's encoding, for encodings whose length takes one, two and three
// bytes, after a prefix and for no item at all.
func TestAppendItemInPlace(t *testing.T) {
	for _, size := range []int{0, 1, 100, 126, 127, 128, 300, 16000, 16384, 20000, 400 << 10} {
		it := attr.Item{"pk": attr.Str("k"), "v": attr.Str(strings.Repeat("x", size))}
		enc := attr.AppendItem(nil, it)
		want := append(binary.AppendUvarint([]byte("prefix"), uint64(len(enc))), enc...)
		if got := appendItem([]byte("prefix"), it); !bytes.Equal(got, want) {
			t.Errorf("value of %d bytes: appendItem differs from length + AppendItem (%d vs %d bytes)", size, len(got), len(want))
		}
	}
	if got := appendItem([]byte("p"), nil); !bytes.Equal(got, []byte{'p', 0}) {
		t.Errorf("nil item: %q", got)
	}
}
