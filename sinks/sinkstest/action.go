package sinkstest

import (
	"encoding/json"
	"fmt"
)

// Receivers are scripted by their records: the string attribute "action" of
// a record's NewImage (or OldImage, for a REMOVE) says how the receiver
// answers. Every receiver in the suite (the HTTP receiver here, the Lambda
// handler in test/lambdahandler) obeys the same convention.
const (
	// ActionAttr is the attribute that carries the action.
	ActionAttr = "action"
	// ActionOK: the record is processed (the default).
	ActionOK = "ok"
	// ActionFail: the whole invocation fails (a function error).
	ActionFail = "fail"
	// ActionFailItem: the record is reported in batchItemFailures.
	ActionFailItem = "failitem"
	// ActionBadItem: batchItemFailures carries an entry with an empty
	// itemIdentifier (Lambda's full-failure signal).
	ActionBadItem = "baditem"
	// ActionThrottle: the receiver throttles (HTTP 429); not for Lambda
	// handlers, which cannot throttle themselves.
	ActionThrottle = "throttle"
	// ActionCrash: a Lambda handler process exits mid-invocation.
	ActionCrash = "crash"
	// ActionSleep: a Lambda handler sleeps past its deadline.
	ActionSleep = "sleep"
)

// Script is what a receiver decides for one event.
type Script struct {
	// Action is the strongest action in the event: throttle, crash or sleep
	// over fail over the item actions; ActionOK when there is nothing else.
	Action string
	// ItemFailures are the batchItemFailures to return when Action is
	// ActionOK ("" for ActionBadItem).
	ItemFailures []string
}

// ScriptOf reads the script out of a Lambda event.
func ScriptOf(event []byte) (Script, error) {
	var ev struct {
		Records []struct {
			Dynamodb struct {
				SequenceNumber string
				NewImage       map[string]map[string]any
				OldImage       map[string]map[string]any
			} `json:"dynamodb"`
		}
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return Script{}, fmt.Errorf("sinkstest: decode event: %w", err)
	}
	s := Script{Action: ActionOK}
	rank := map[string]int{ActionOK: 0, ActionFail: 1, ActionThrottle: 2, ActionCrash: 2, ActionSleep: 2}
	for _, r := range ev.Records {
		img := r.Dynamodb.NewImage
		if img == nil {
			img = r.Dynamodb.OldImage
		}
		a, _ := img[ActionAttr]["S"].(string)
		switch a {
		case ActionFailItem:
			s.ItemFailures = append(s.ItemFailures, r.Dynamodb.SequenceNumber)
		case ActionBadItem:
			s.ItemFailures = append(s.ItemFailures, "")
		case ActionFail, ActionThrottle, ActionCrash, ActionSleep:
			if rank[a] > rank[s.Action] {
				s.Action = a
			}
		}
	}
	return s, nil
}

// ItemFailuresResponse is the JSON a function returns to report failures.
func ItemFailuresResponse(ids []string) []byte {
	type item struct {
		ItemIdentifier string `json:"itemIdentifier"`
	}
	resp := struct {
		BatchItemFailures []item `json:"batchItemFailures"`
	}{BatchItemFailures: []item{}}
	for _, id := range ids {
		resp.BatchItemFailures = append(resp.BatchItemFailures, item{id})
	}
	b, _ := json.Marshal(resp)
	return b
}
