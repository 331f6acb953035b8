package globaltables

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// The digest protocol: request/reply on a region's NATS, JSON both ways,
// versioned by the "v" field (digestProtoVersion; a server answers a
// version it does not speak with an error).
//
//	subject  gw.ctl.<region>.digest
//	request  {"v":1,"op":"digest","table":T,"partition":P,"buckets":B}
//	reply    {"v":1,"partitions":N,"buckets":[{"n":count,"h":"<sha256 hex>"},...]}
//	request  {"v":1,"op":"keys","table":T,"partition":P,"buckets":B,"bucket":I,"offset":O,"limit":L}
//	reply    {"v":1,"partitions":N,"entries":[{"key":{..},"version":{..},"deleted":bool,"h":".."}],"more":bool}
//	error    {"v":1,"error":"...","notFound":bool}
//
// A bucket's digest covers the partition's items and tombstones (see
// engine.TableDigest). "keys" pages through one bucket's entries by offset
// (limit default and max 1000) so a reply stays under NATS's payload limit.
const (
	digestProtoVersion = 1
	digestKeysMaxLimit = 1000
)

// DigestSubject is the subject of a region's digest server.
func DigestSubject(region string) string { return "gw.ctl." + region + ".digest" }

// DigestRequest is a request to a digest server.
type DigestRequest struct {
	V         int    `json:"v"`
	Op        string `json:"op"` // "digest" or "keys"
	Table     string `json:"table"`
	Partition int    `json:"partition"`
	Buckets   int    `json:"buckets"`
	Bucket    int    `json:"bucket,omitempty"`
	Offset    int    `json:"offset,omitempty"`
	Limit     int    `json:"limit,omitempty"`
}

// DigestReply is a digest server's reply.
type DigestReply struct {
	V          int            `json:"v"`
	Error      string         `json:"error,omitempty"`
	NotFound   bool           `json:"notFound,omitempty"` // the table does not exist
	Partitions int            `json:"partitions,omitempty"`
	Buckets    []DigestBucket `json:"buckets,omitempty"`
	Entries    []DigestKey    `json:"entries,omitempty"`
	More       bool           `json:"more,omitempty"`
}

// DigestBucket is one bucket's digest: its entry count and XOR of hashes.
type DigestBucket struct {
	N int    `json:"n"`
	H string `json:"h"`
}

// DigestKey is one entry of a bucket.
type DigestKey struct {
	Key     json.RawMessage `json:"key"` // DynamoDB JSON of the primary key
	Version ConflictVersion `json:"version"`
	Deleted bool            `json:"deleted,omitempty"` // a tombstone
	H       string          `json:"h"`
}

// DigestServerConfig configures a DigestServer.
type DigestServerConfig struct {
	// Conn is a connection to the local region's NATS. Required.
	Conn *nats.Conn
	// DB is the local engine; its Region names the subject. Required.
	DB *engine.DB
	// Logger is named "globaltables.digest". Default a null logger.
	Logger hclog.Logger
}

// Validate reports every problem with c at once.
func (c DigestServerConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("globaltables: digest server Conn is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("globaltables: digest server DB is required"))
	}
	return errors.Join(errs...)
}

// DigestServer answers digest requests about the local engine's tables on
// DigestSubject(region), one at a time. Safe for concurrent use.
type DigestServer struct {
	cfg DigestServerConfig
	log hclog.Logger
	sub *nats.Subscription

	mu     sync.RWMutex // held shared by a request being answered
	closed bool
}

// NewDigestServer subscribes to the region's digest subject.
func NewDigestServer(cfg DigestServerConfig) (*DigestServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &DigestServer{cfg: cfg, log: cfg.Logger.Named("globaltables.digest")}
	sub, err := cfg.Conn.Subscribe(DigestSubject(cfg.DB.Region()), s.handle)
	if err != nil {
		return nil, fmt.Errorf("globaltables: subscribe to %s: %w", DigestSubject(cfg.DB.Region()), err)
	}
	// NB: make sure the subscription reached the server before callers
	// ask (a request right after start would otherwise find no responder).
	if err := cfg.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("globaltables: subscribe to %s: %w", DigestSubject(cfg.DB.Region()), err)
	}
	s.sub = sub
	return s, nil
}

// Close unsubscribes and waits for a request being answered, so the
// engine may be closed after it. Idempotent.
func (s *DigestServer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrBadSubscription) && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

func (s *DigestServer) handle(m *nats.Msg) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	rep := s.answer(m.Data)
	data, err := json.Marshal(rep)
	if err != nil {
		data = []byte(`{"v":1,"error":"encode reply"}`)
	}
	if err := m.Respond(data); err != nil {
		s.log.Warn("digest reply", "error", err)
	}
}

func (s *DigestServer) answer(data []byte) *DigestReply {
	rep := &DigestReply{V: digestProtoVersion}
	var req DigestRequest
	if err := json.Unmarshal(data, &req); err != nil {
		rep.Error = "malformed request: " + err.Error()
		return rep
	}
	if req.V != digestProtoVersion {
		rep.Error = fmt.Sprintf("protocol version %d not spoken (this server speaks %d)", req.V, digestProtoVersion)
		return rep
	}
	info, ok := s.cfg.DB.Table(req.Table)
	if !ok {
		rep.Error, rep.NotFound = fmt.Sprintf("no table %s in %s", req.Table, s.cfg.DB.Region()), true
		return rep
	}
	rep.Partitions = info.Partitions
	switch req.Op {
	case "digest":
		ds, err := s.cfg.DB.TableDigest(req.Table, req.Partition, req.Buckets)
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
		rep.Buckets = make([]DigestBucket, len(ds))
		for i, d := range ds {
			rep.Buckets[i] = DigestBucket{N: d.Count, H: hex.EncodeToString(d.Hash[:])}
		}
	case "keys":
		es, err := s.cfg.DB.DigestKeys(req.Table, req.Partition, req.Bucket, req.Buckets)
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
		limit := req.Limit
		if limit <= 0 || limit > digestKeysMaxLimit {
			limit = digestKeysMaxLimit
		}
		off := min(max(req.Offset, 0), len(es))
		end := min(off+limit, len(es))
		rep.More = end < len(es)
		rep.Entries = make([]DigestKey, 0, end-off)
		for _, e := range es[off:end] {
			rep.Entries = append(rep.Entries, DigestKey{
				Key: attr.AppendItemJSON(nil, e.Key), Version: conflictVersion(e.Version),
				Deleted: e.Deleted, H: hex.EncodeToString(e.Hash[:]),
			})
		}
	default:
		rep.Error = fmt.Sprintf("unknown op %q (want %s)", req.Op, strings.Join([]string{"digest", "keys"}, " or "))
	}
	return rep
}
