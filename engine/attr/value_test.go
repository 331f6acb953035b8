package attr

import (
	"testing"
	"unsafe"
)

// Go maps store elements over 128 bytes out of line (an allocation per
// entry); Value must stay within that.
func TestValueSize(t *testing.T) {
	if n := unsafe.Sizeof(Value{}); n > 128 {
		t.Errorf("Value is %d bytes, want at most 128", n)
	}
}
