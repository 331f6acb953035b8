package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/nats-io/nats.go/jetstream"
)

// pubLabelTime is the time a stream label ("2006-01-02T15:04:05.000",
// UTC) names: the stream's enable time.
func pubLabelTime(label string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02T15:04:05.000", label)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// pubStreamSpec is what a table stream's JetStream stream is made from.
type pubStreamSpec struct {
	region   string
	table    engine.TableInfo
	label    string
	viewType string // "" when unknown (a label no longer enabled)
}

// jsConfig is the JetStream configuration of a table stream: one stream
// named StreamName, one subject per partition, limits from cfg, and the
// layout's metadata. MetaCreated is the label's time, so that every
// process and region derives the same shard ids from it.
func (s pubStreamSpec) jsConfig(cfg PublisherConfig) jetstream.StreamConfig {
	created := time.Now()
	if t, ok := pubLabelTime(s.label); ok {
		created = t
	}
	t := s.table
	meta := map[string]string{
		MetaTable:      t.Name,
		MetaTableID:    strconv.FormatUint(uint64(t.ID), 10),
		MetaLabel:      s.label,
		MetaViewType:   s.viewType,
		MetaPartitions: strconv.Itoa(t.Partitions),
		MetaRegion:     s.region,
		MetaCreated:    strconv.FormatInt(created.UnixMilli(), 10),
		MetaHashKey:    t.HashKey + ":" + t.HashType.String(),
		MetaRangeKey:   "",
		MetaLayout:     layoutVersion,
	}
	if t.RangeKey != "" {
		meta[MetaRangeKey] = t.RangeKey + ":" + t.RangeType.String()
	}
	return jetstream.StreamConfig{
		Name:        StreamName(t.ID, s.label),
		Description: fmt.Sprintf("godwit stream %s of table %s", s.label, t.Name),
		Subjects:    []string{SubjectWildcard(s.region, t.ID, s.label)},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.Retention,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgs:     -1,
		Duplicates:  cfg.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		AllowDirect: true,
		Metadata:    meta,
	}
}

// ensureStream returns the JetStream stream of spec, creating it when
// missing. created is the stream's creation time, which tells its
// incarnations apart (a concurrent idempotent create returns the same
// one). With fixLimits, an existing stream whose limits (MaxAge,
// MaxBytes, Duplicates, Replicas) differ from cfg's is updated; its
// metadata is kept.
func ensureStream(ctx context.Context, js jetstream.JetStream, spec pubStreamSpec, cfg PublisherConfig, fixLimits bool) (s jetstream.Stream, created time.Time, err error) {
	want := spec.jsConfig(cfg)
	s, err = js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, want.Name) // created concurrently, differently
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return s, s.CachedInfo().Created, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	info := s.CachedInfo()
	have := info.Config
	if !fixLimits || (have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.Duplicates == want.Duplicates && have.Replicas == want.Replicas) {
		return s, info.Created, nil
	}
	have.MaxAge, have.MaxBytes, have.Duplicates, have.Replicas = want.MaxAge, want.MaxBytes, want.Duplicates, want.Replicas
	s, err = js.UpdateStream(ctx, have)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("update limits of stream %s: %w", want.Name, err)
	}
	return s, info.Created, nil
}

// disableStream marks a table stream's JetStream stream disabled at now
// (metadata MetaDisabled, Unix milliseconds), unless it already is;
// changed reports whether it did. The stream stays readable until MaxAge
// has removed its records. A missing stream is not an error.
func disableStream(ctx context.Context, js jetstream.JetStream, name string, now time.Time) (changed bool, err error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Metadata[MetaDisabled] != "" {
		return false, nil
	}
	meta := make(map[string]string, len(cfg.Metadata)+1)
	for k, v := range cfg.Metadata {
		meta[k] = v
	}
	meta[MetaDisabled] = strconv.FormatInt(now.UnixMilli(), 10)
	cfg.Metadata = meta
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("disable stream %s: %w", name, err)
	}
	return true, nil
}

// lastPublished is the Godwit-Seq of the last record the stream holds on
// subject, 0 when it holds none (or the stream does not exist).
func lastPublished(ctx context.Context, js jetstream.JetStream, stream, subject string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	// NB: with AllowDirect this may be answered by a lagging replica of an
	// R3 stream; a stale (lower) answer only makes the publisher republish
	// records that the Nats-Msg-Id dedupe window then drops.
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message on %s: %w", subject, err)
	}
	seq, err := strconv.ParseUint(msg.Header.Get(HeaderSeq), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("last message on %s (stream sequence %d) has no valid %s header: %q",
			subject, msg.Sequence, HeaderSeq, msg.Header.Get(HeaderSeq))
	}
	return seq, nil
}
