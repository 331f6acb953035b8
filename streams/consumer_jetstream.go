package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TableStream is one table stream (one enable of a table's stream) as its
// JetStream stream's metadata describes it (layout.go's Meta* keys).
type TableStream struct {
	Name       string // the JetStream stream, GW_<tableID>_<label>
	Table      string
	TableID    uint32
	Label      string // "2006-01-02T15:04:05.000"
	ViewType   string
	Partitions int
	Region     string
	CreatedMs  int64 // Unix ms; the shards' creation time in their ids
	DisabledMs int64 // Unix ms when the stream was disabled; 0 while enabled
	HashKey    string
	HashType   string
	RangeKey   string // "" when the table has no sort key
	RangeType  string
}

// ARN is the stream's ARN in account.
func (s *TableStream) ARN(account string) string {
	return StreamARN(s.Region, account, s.Table, s.Label)
}

// Subject is the subject of partition p's records.
func (s *TableStream) Subject(p int) string { return Subject(s.Region, s.TableID, s.Label, p) }

// ShardID is the shard id of partition p.
func (s *TableStream) ShardID(p int) string { return ShardID(s.CreatedMs, p) }

// parseTableStream reads a JetStream stream's metadata; ok is false for a
// stream that is not a godwit table stream.
func parseTableStream(name string, md map[string]string) (TableStream, bool) {
	s := TableStream{
		Name:     name,
		Table:    md[MetaTable],
		Label:    md[MetaLabel],
		ViewType: md[MetaViewType],
		Region:   md[MetaRegion],
	}
	switch s.ViewType {
	case ViewKeysOnly, ViewNewImage, ViewOldImage, ViewNewAndOldImages:
	default:
		// NB: the publisher may not know the view type of a stream it
		// creates only after the stream was disabled; showing no images
		// never reveals more than the table's owner asked for.
		s.ViewType = ViewKeysOnly
	}
	id, err := strconv.ParseUint(md[MetaTableID], 10, 32)
	if err != nil || s.Table == "" || s.Label == "" || s.Region == "" {
		return TableStream{}, false
	}
	s.TableID = uint32(id)
	parts, err := strconv.Atoi(md[MetaPartitions])
	if err != nil || parts < 1 || parts > 1<<16 {
		return TableStream{}, false
	}
	s.Partitions = parts
	if s.CreatedMs, err = strconv.ParseInt(md[MetaCreated], 10, 64); err != nil {
		t, perr := time.Parse(streamLabelLayout, s.Label)
		if perr != nil {
			return TableStream{}, false
		}
		s.CreatedMs = t.UnixMilli()
	}
	if v := md[MetaDisabled]; v != "" {
		// NB: any non-empty value marks the stream disabled, even one that
		// is not a number: a closed stream must never look open.
		s.DisabledMs, err = strconv.ParseInt(v, 10, 64)
		if err != nil || s.DisabledMs <= 0 {
			s.DisabledMs = 1
		}
	}
	s.HashKey, s.HashType = splitKeyMeta(md[MetaHashKey])
	s.RangeKey, s.RangeType = splitKeyMeta(md[MetaRangeKey])
	return s, true
}

// streamLabelLayout is the format of stream labels.
const streamLabelLayout = "2006-01-02T15:04:05.000"

// splitKeyMeta splits "name:type" at its last colon (names may hold colons).
func splitKeyMeta(v string) (name, typ string) {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i+1:]
}

// ListTableStreams returns every table stream of region held by js, sorted
// by table name, then label. Streams of other regions and JetStream streams
// that are not godwit's are left out.
func ListTableStreams(ctx context.Context, js jetstream.JetStream, region string) ([]TableStream, error) {
	return listTableStreams(ctx, js, "gw."+region+".>", region)
}

func listTableStreams(ctx context.Context, js jetstream.JetStream, subject, region string) ([]TableStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := js.ListStreams(ctx, jetstream.WithStreamListSubject(subject))
	var out []TableStream
	for info := range l.Info() { // NB: drained to the end, so the lister's goroutine exits
		if s, ok := parseTableStream(info.Config.Name, info.Config.Metadata); ok && s.Region == region {
			out = append(out, s)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("streams: list streams on %s: %w", subject, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		if out[i].Label != out[j].Label {
			return out[i].Label < out[j].Label
		}
		return out[i].TableID < out[j].TableID
	})
	return out, nil
}

// LatestTableStream returns the most recently enabled stream of table in
// region (enabled or not), or ok=false when the table has none.
func LatestTableStream(ctx context.Context, js jetstream.JetStream, region, table string) (s TableStream, ok bool, err error) {
	all, err := ListTableStreams(ctx, js, region)
	if err != nil {
		return TableStream{}, false, err
	}
	for _, c := range all {
		if c.Table == table && (!ok || c.Label > s.Label || c.Label == s.Label && c.TableID > s.TableID) {
			s, ok = c, true
		}
	}
	return s, ok, nil
}

// jsAPIPrefix is the subject prefix of js's API requests ("$JS.API." or a
// domain's "$JS.<domain>.API.").
func jsAPIPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// storedMsg is one message read back from a stream.
type storedMsg struct {
	seq    uint64
	header nats.Header
	data   []byte
	n      int // its records; 0: read HeaderCount from header
}

// count is the number of records m carries.
func (m *storedMsg) count() (int, error) {
	if m.n > 0 {
		return m.n, nil
	}
	return MessageCount(m.header)
}

// errNoDirect reports a stream that answers no direct gets (AllowDirect off).
var errNoDirect = errors.New("streams: stream does not allow direct get")

// directGetter reads messages by batch direct get (nats-server ≥ 2.11):
// one request, whose whole answer arrives on the getter's inbox, ending
// with an EOB status that carries the number of the subject's messages
// left after the batch. All requests share one wildcard inbox
// subscription: subscribing per request costs the server ten times the
// read itself.
type directGetter struct {
	nc        *nats.Conn
	apiPrefix string
	inbox     string // "<inbox>." + request token
	sub       *nats.Subscription

	mu      sync.Mutex
	nextID  uint64
	waiting map[string]chan *nats.Msg
}

func newDirectGetter(nc *nats.Conn, apiPrefix string) (*directGetter, error) {
	g := &directGetter{nc: nc, apiPrefix: apiPrefix, inbox: nats.NewInbox() + ".", waiting: map[string]chan *nats.Msg{}}
	sub, err := nc.Subscribe(g.inbox+"*", g.deliver)
	if err != nil {
		return nil, fmt.Errorf("streams: subscribe to direct-get replies: %w", err)
	}
	// NB: a batch of 1000 records of 400 KB may queue; the waiter drains it.
	_ = sub.SetPendingLimits(-1, -1)
	g.sub = sub
	return g, nil
}

func (g *directGetter) deliver(m *nats.Msg) {
	token := m.Subject[len(g.inbox):]
	g.mu.Lock()
	ch := g.waiting[token]
	g.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default: // NB: more replies than asked for; cannot happen, and the waiter would time out
		}
	}
}

// close stops the getter's subscription.
func (g *directGetter) close() error { return g.sub.Unsubscribe() }

// get reads up to limit messages of one subject with sequence ≥ from. The
// server stops early once it has sent maxBytes. pending is 0 when the
// batch reached the subject's end.
func (g *directGetter) get(ctx context.Context, stream, subject string, from uint64, limit, maxBytes int) (msgs []storedMsg, pending uint64, err error) {
	req, _ := json.Marshal(struct {
		Seq      uint64 `json:"seq"`
		NextFor  string `json:"next_by_subj"`
		Batch    int    `json:"batch"`
		MaxBytes int    `json:"max_bytes"`
	}{max(from, 1), subject, limit, maxBytes}) // NB: marshalling this struct cannot fail.
	ch := make(chan *nats.Msg, limit+1)
	g.mu.Lock()
	g.nextID++
	token := strconv.FormatUint(g.nextID, 36)
	g.waiting[token] = ch
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.waiting, token)
		g.mu.Unlock()
	}()
	if err := g.nc.PublishRequest(g.apiPrefix+"DIRECT.GET."+stream, g.inbox+token, req); err != nil {
		return nil, 0, fmt.Errorf("streams: direct get %s: %w", stream, err)
	}
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("streams: direct get %s: %w", stream, ctx.Err())
		}
		if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
			switch status {
			case "204": // end of batch
				pending, _ = strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
				return msgs, pending, nil
			case "404": // nothing at or after from
				return msgs, 0, nil
			case "503":
				return nil, 0, errNoDirect
			}
			return nil, 0, fmt.Errorf("streams: direct get %s: status %s %s", stream, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("streams: direct get %s: bad %s header %q", stream, jetstream.SequenceHeader, m.Header.Get(jetstream.SequenceHeader))
		}
		msgs = append(msgs, storedMsg{seq: seq, header: m.Header, data: m.Data})
	}
}

// getMsgs is directGet for a stream without AllowDirect: one stream-get
// request per message.
func getMsgs(ctx context.Context, s jetstream.Stream, subject string, from uint64, limit int) (msgs []storedMsg, pending uint64, err error) {
	seq := max(from, 1)
	for len(msgs) < limit {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return msgs, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("streams: get message of %s: %w", subject, err)
		}
		msgs = append(msgs, storedMsg{seq: m.Sequence, header: m.Header, data: m.Data})
		seq = m.Sequence + 1
	}
	return msgs, 1, nil // NB: unknown; "maybe more" is the safe answer
}

// JetStreamSource is a Source reading one table stream straight from
// JetStream: the path of global-table replicators and sinks. Each shard
// reader is an ordered consumer (ephemeral, in memory, recreated by the
// client on any gap) filtered to its partition's subject, pulling at most
// Batch messages ahead of the reader.
type JetStreamSource struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	ts     TableStream
	cfg    JetStreamSourceConfig
}

// JetStreamSourceConfig tunes a JetStreamSource. Zero fields take their defaults.
type JetStreamSourceConfig struct {
	// Batch is how many messages a shard reader pulls ahead (a message
	// carries 1 to MaxRecordsPerMessage records). Default 256.
	Batch int
	// IdleWait is how long a read waits for a record before it reports the
	// shard idle (and checks whether it was closed). Default 1s.
	IdleWait time.Duration
	// ChangesOnly leaves Record.Event unbuilt (zero), for readers that use
	// Record.Change only.
	ChangesOnly bool
	// SkipOrigin, when set, is asked for each message's origin (its
	// Godwit-Origin header; a message's records share one origin). A
	// message it returns true for is not decoded: it yields ONE record, at
	// the position of the message's last record, whose Change carries only
	// Partition, Seq (the Godwit-Seq header: the outbox sequence of the
	// message's last record) and Origin, and whose Event is zero. Global tables' drivers use it for the
	// records they only count past (changes replicated into the peer from
	// elsewhere), which are most of a peer's stream.
	SkipOrigin func(origin string) bool
}

func (c JetStreamSourceConfig) withDefaults() JetStreamSourceConfig {
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.IdleWait <= 0 {
		c.IdleWait = time.Second
	}
	return c
}

var _ Source = (*JetStreamSource)(nil)

// NewJetStreamSource returns a Source for the JetStream stream named stream
// (a table stream: see ListTableStreams, LatestTableStream).
func NewJetStreamSource(ctx context.Context, js jetstream.JetStream, stream string, cfg JetStreamSourceConfig) (*JetStreamSource, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("streams: open stream %s: %w", stream, err)
	}
	ts, ok := parseTableStream(stream, s.CachedInfo().Config.Metadata)
	if !ok {
		return nil, fmt.Errorf("streams: %s is not a godwit table stream", stream)
	}
	return &JetStreamSource{js: js, stream: s, ts: ts, cfg: cfg.withDefaults()}, nil
}

// TableStream describes the stream the source reads.
func (s *JetStreamSource) TableStream() TableStream { return s.ts }

// Shards lists one shard per partition, closed once the stream is disabled.
func (s *JetStreamSource) Shards(ctx context.Context) ([]Shard, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("streams: stream %s: %w", s.ts.Name, err)
	}
	ts, _ := parseTableStream(s.ts.Name, info.Config.Metadata)
	out := make([]Shard, s.ts.Partitions)
	for p := range out {
		out[p] = Shard{ID: s.ts.ShardID(p), Partition: p, Closed: ts.DisabledMs != 0}
	}
	return out, nil
}

// Open starts reading shard after position after (Pos); with after 0 it
// starts at the oldest retained record (TrimHorizon) or after the newest
// (Latest), and reports the position it resolved to: for Latest "after
// every record of the stream's last message", Pos(LastSeq,
// MaxRecordsPerMessage-1). A position whose next record may have been
// trimmed is ErrTrimmed: one inside a message (index below
// MaxRecordsPerMessage-1) needs that message, any other the next one, and
// the stream's first retained message is compared with that (so, as
// before, the judgement is per stream and errs on the side of reporting).
// The reader starts at the position's message and drops its records up to
// the position, so a consumer resumes in the middle of a message exactly.
func (s *JetStreamSource) Open(ctx context.Context, sh Shard, from StartFrom, after uint64) (ShardReader, uint64, error) {
	if sh.Partition < 0 || sh.Partition >= s.ts.Partitions {
		return nil, 0, fmt.Errorf("streams: stream %s has no partition %d", s.ts.Name, sh.Partition)
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("streams: stream %s: %w", s.ts.Name, err)
	}
	oc := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{s.ts.Subject(sh.Partition)},
		InactiveThreshold: 5 * time.Minute,
	}
	switch {
	case after > 0:
		start := nextMessage(after)
		if start < info.State.FirstSeq {
			return nil, 0, fmt.Errorf("%w: shard %s position %d (message %d), oldest retained message %d",
				ErrTrimmed, sh.ID, after, start, info.State.FirstSeq)
		}
		oc.DeliverPolicy, oc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	case from == Latest:
		after = Pos(info.State.LastSeq, MaxRecordsPerMessage-1)
		oc.DeliverPolicy, oc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.State.LastSeq+1
	default:
		after = 0
		if info.State.FirstSeq > 1 {
			after = Pos(info.State.FirstSeq-1, MaxRecordsPerMessage-1)
		}
		oc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	c, err := s.stream.OrderedConsumer(ctx, oc)
	if err != nil {
		return nil, 0, fmt.Errorf("streams: consumer on %s: %w", oc.FilterSubjects[0], err)
	}
	it, err := c.Messages(jetstream.PullMaxMessages(s.cfg.Batch))
	if err != nil {
		return nil, 0, fmt.Errorf("streams: read %s: %w", oc.FilterSubjects[0], err)
	}
	return &jsShardReader{src: s, shard: sh, c: c, it: it, pos: after}, after, nil
}

// nextMessage is the JetStream sequence of the first message that may
// hold a record after position pos: pos's own message, unless pos is past
// every record a message can hold.
func nextMessage(pos uint64) uint64 {
	js, idx := SplitPos(pos)
	if idx == MaxRecordsPerMessage-1 {
		return js + 1
	}
	return js
}

// jsShardReader reads one partition subject through an ordered consumer.
type jsShardReader struct {
	src   *JetStreamSource
	shard Shard
	c     jetstream.Consumer
	it    jetstream.MessagesContext
	pos   uint64 // the last position returned (or watermarked)

	idle     bool   // the last read found nothing
	idleLast uint64 // the stream's last sequence, read before the current idle wait
	idleShut bool   // the stream was disabled when idleLast was read

	closeOnce sync.Once
}

// Read returns the records of the next message (those after the reader's
// position), or none after the idle wait. A record's absence is then
// turned into a watermark: the stream's last sequence, read before a wait
// that found nothing, bounds everything this subject holds. After a
// message's records the watermark is Pos(its sequence,
// MaxRecordsPerMessage-1): "every record of that message".
func (r *jsShardReader) Read(ctx context.Context) ([]Record, uint64, error) {
	if r.idle {
		info, err := r.src.stream.Info(ctx)
		if err != nil {
			return nil, r.pos, fmt.Errorf("streams: stream %s: %w", r.src.ts.Name, err)
		}
		ts, _ := parseTableStream(r.src.ts.Name, info.Config.Metadata)
		r.idleLast, r.idleShut = info.State.LastSeq, ts.DisabledMs != 0
	}
	// NB: a context (not NextMaxWait) bounds the wait, so that cancelling
	// ctx (Consumer.Close) ends it at once.
	wctx, cancel := context.WithTimeout(ctx, r.src.cfg.IdleWait)
	m, err := r.it.Next(jetstream.NextContext(wctx))
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil, r.pos, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		if r.idle {
			r.pos = max(r.pos, Pos(r.idleLast, MaxRecordsPerMessage-1))
			if r.idleShut {
				return nil, r.pos, io.EOF
			}
		}
		r.idle = true
		return nil, r.pos, nil
	case err != nil:
		return nil, r.pos, fmt.Errorf("streams: read shard %s: %w", r.shard.ID, err)
	}
	r.idle = false
	md, err := m.Metadata()
	if err != nil {
		return nil, r.pos, fmt.Errorf("streams: read shard %s: %w", r.shard.ID, err)
	}
	recs, err := r.src.records(nil, r.shard, md.Sequence.Stream, m.Headers(), m.Data(), r.pos)
	if err != nil {
		return nil, r.pos, err
	}
	for i := range recs {
		recs[i].Pending = md.NumPending + uint64(len(recs)-1-i)
	}
	r.pos = max(r.pos, Pos(md.Sequence.Stream, MaxRecordsPerMessage-1))
	return recs, r.pos, nil
}

// Close stops the reader's consumer and deletes it. Stopping alone leaves
// it on the server until its InactiveThreshold: a driver that re-reads a
// partition often (each re-read is a new consumer) hit the server's
// consumer limit that way.
func (r *jsShardReader) Close() error {
	r.closeOnce.Do(func() {
		r.it.Stop()
		if info := r.c.CachedInfo(); info != nil && info.Name != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			// NB: best effort; the InactiveThreshold still removes it.
			_ = r.src.stream.DeleteConsumer(ctx, info.Name)
		}
	})
	return nil
}

// records appends to dst the records of one message of shard's subject,
// stored at stream sequence seq, whose positions are after after, decoded
// as the source's configuration asks. A message whose origin SkipOrigin
// skips is not decoded: it yields one record, at the position of its last
// record, whose Change carries only Partition, Seq (the Godwit-Seq header:
// the outbox sequence of the message's last record) and Origin.
func (s *JetStreamSource) records(dst []Record, sh Shard, seq uint64, hdr nats.Header, data []byte, after uint64) ([]Record, error) {
	if s.cfg.SkipOrigin != nil {
		if origin := hdr.Get(HeaderOrigin); origin != "" && s.cfg.SkipOrigin(origin) {
			// NB: a message without a usable Godwit-Seq or Godwit-Count is decoded in full.
			cs, err := strconv.ParseUint(hdr.Get(HeaderSeq), 10, 64)
			n, cerr := MessageCount(hdr)
			if err == nil && cerr == nil && cs > 0 {
				if pos := Pos(seq, n-1); pos > after {
					dst = append(dst, Record{
						ShardID:   sh.ID,
						Partition: sh.Partition,
						Seq:       pos,
						Change:    &engine.Change{Partition: sh.Partition, Seq: cs, Origin: origin},
						Origin:    origin,
					})
				}
				return dst, nil
			}
		}
	}
	return recordsOfMsg(dst, &s.ts, sh, seq, hdr, data, !s.cfg.ChangesOnly, after)
}

// recordsOfMsg appends to dst the records of one stored message of ts's
// partition subject whose positions are after after, with their Streams
// API events when event is set. Each record's Change is decoded from its
// own bytes (its Seq is its outbox sequence).
func recordsOfMsg(dst []Record, ts *TableStream, sh Shard, seq uint64, hdr nats.Header, data []byte, event bool, after uint64) ([]Record, error) {
	n, err := MessageCount(hdr)
	if err != nil {
		return dst, fmt.Errorf("streams: %s message %d: %w", ts.Name, seq, err)
	}
	var one [1][]byte
	bodies, err := SplitRecords(one[:0], n, data)
	if err != nil {
		return dst, fmt.Errorf("streams: %s message %d: %w", ts.Name, seq, err)
	}
	hdrOrigin := hdr.Get(HeaderOrigin)
	for i, body := range bodies {
		pos := Pos(seq, i)
		if pos <= after {
			continue
		}
		c, err := engine.DecodeChange(body)
		if err != nil {
			return dst, fmt.Errorf("streams: %s message %d record %d: %w", ts.Name, seq, i, err)
		}
		origin := hdrOrigin
		if origin == "" {
			origin = c.Origin
		}
		rec := Record{
			ShardID:   sh.ID,
			Partition: sh.Partition,
			Seq:       pos,
			Change:    c,
			Origin:    origin,
		}
		if event {
			rec.Event = NewStreamRecord(c, pos, ts.Name, ts.ViewType, ts.Region)
		}
		dst = append(dst, rec)
	}
	return dst, nil
}
