package conflict

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the hybrid-logical-clock stamp every stored item and tombstone
// carries. Versions are totally ordered: by Wall, then Logical, then Region
// (bytewise), so two regions comparing the same pair always agree.
type Version struct {
	Wall    int64  // physical time, Unix nanoseconds
	Logical uint32 // counter within one Wall tick
	Region  string // region that made the write
}

// IsZero reports whether v is the zero Version (no write yet).
func (v Version) IsZero() bool { return v.Wall == 0 && v.Logical == 0 && v.Region == "" }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Wall < o.Wall:
		return -1
	case v.Wall > o.Wall:
		return 1
	case v.Logical < o.Logical:
		return -1
	case v.Logical > o.Logical:
		return 1
	case v.Region < o.Region:
		return -1
	case v.Region > o.Region:
		return 1
	}
	return 0
}

// After reports whether v wins over o under last-writer-wins.
func (v Version) After(o Version) bool { return v.Compare(o) > 0 }

func (v Version) String() string {
	return fmt.Sprintf("%d.%d@%s", v.Wall, v.Logical, v.Region)
}

// versionFormat is the first byte of an encoded Version; bump it when the layout changes.
const versionFormat = 1

// ErrBadVersion is returned when decoding bytes that are not an encoded Version.
var ErrBadVersion = errors.New("conflict: malformed version")

// AppendBinary appends v's stable binary form: format byte, 8-byte big-endian
// wall, 4-byte big-endian logical, uvarint region length, region bytes.
func (v Version) AppendBinary(dst []byte) []byte {
	dst = append(dst, versionFormat)
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.Wall))
	dst = binary.BigEndian.AppendUint32(dst, v.Logical)
	dst = binary.AppendUvarint(dst, uint64(len(v.Region)))
	return append(dst, v.Region...)
}

// DecodeVersion decodes a Version written by AppendBinary from the front of b
// and returns the bytes after it.
func DecodeVersion(b []byte) (Version, []byte, error) {
	if len(b) < 13 || b[0] != versionFormat {
		return Version{}, nil, ErrBadVersion
	}
	v := Version{
		Wall:    int64(binary.BigEndian.Uint64(b[1:9])),
		Logical: binary.BigEndian.Uint32(b[9:13]),
	}
	n, w := binary.Uvarint(b[13:])
	if w <= 0 || uint64(len(b)-13-w) < n {
		return Version{}, nil, ErrBadVersion
	}
	rest := b[13+w:]
	v.Region = string(rest[:n])
	return v, rest[n:], nil
}
