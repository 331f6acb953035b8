package sinks

import (
	"encoding/json"
	"time"
)

// Event returns the JSON event a Lambda function receives for b: the
// {"Records":[...]} payload of reference §6.2, plus, for a tumbling
// window, window, state, shardId, eventSourceARN, isFinalInvokeForWindow
// and isWindowTerminatedEarly. Every target sends this same payload.
func (b *Batch) Event() ([]byte, error) {
	recs := make([]json.RawMessage, len(b.Records))
	for i := range b.Records {
		recs[i] = b.Records[i].Event
	}
	if b.Window == nil {
		return json.Marshal(struct {
			Records []json.RawMessage `json:"Records"`
		}{recs})
	}
	state := b.Window.State
	if len(state) == 0 {
		state = json.RawMessage("{}")
	}
	type window struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	return json.Marshal(struct {
		Records                 []json.RawMessage `json:"Records"`
		Window                  window            `json:"window"`
		State                   json.RawMessage   `json:"state"`
		ShardID                 string            `json:"shardId"`
		EventSourceARN          string            `json:"eventSourceARN"`
		IsFinalInvokeForWindow  bool              `json:"isFinalInvokeForWindow"`
		IsWindowTerminatedEarly bool              `json:"isWindowTerminatedEarly"`
	}{
		Records:                 recs,
		Window:                  window{b.Window.Start.UTC().Format(time.RFC3339), b.Window.End.UTC().Format(time.RFC3339)},
		State:                   state,
		ShardID:                 b.ShardID,
		EventSourceARN:          b.StreamARN,
		IsFinalInvokeForWindow:  b.Window.IsFinalInvokeForWindow,
		IsWindowTerminatedEarly: b.Window.IsWindowTerminatedEarly,
	})
}

// ParseResponse decodes a function's JSON response into a Result
// (reference §6.3): {"batchItemFailures":[{"itemIdentifier":"..."}],
// "state":{...}}. An empty or null body, or a null or empty list, is full
// success. An entry whose itemIdentifier is missing, null or "" (or an
// entry that is not an object) is returned as "" — a full failure.
// A body that is not a JSON object is full success with no state, as
// Lambda treats a handler that returns something else.
func ParseResponse(body []byte) Result {
	var resp struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		State             json.RawMessage   `json:"state"`
	}
	if len(body) == 0 || json.Unmarshal(body, &resp) != nil {
		return Result{}
	}
	var r Result
	for _, f := range resp.BatchItemFailures {
		var e struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		}
		if json.Unmarshal(f, &e) != nil || e.ItemIdentifier == nil {
			r.BatchItemFailures = append(r.BatchItemFailures, "")
			continue
		}
		r.BatchItemFailures = append(r.BatchItemFailures, *e.ItemIdentifier)
	}
	if len(resp.State) > 0 && string(resp.State) != "null" {
		r.State = resp.State
	}
	return r
}
