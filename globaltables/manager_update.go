package globaltables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/apierr"
)

// replicaAction is one ReplicationGroupUpdate's Create, Update or Delete.
// The overrides Create and Update take (KMSMasterKeyId, throughput,
// GlobalSecondaryIndexes, TableClassOverride) are accepted and ignored.
type replicaAction struct {
	RegionName *string `json:"RegionName"`
}

type replicationGroupUpdate struct {
	Create *replicaAction `json:"Create"`
	Update *json.RawMessage
	Delete *replicaAction `json:"Delete"`
}

// errAs reports whether err is a ResourceNotFoundException.
func errAs(err error) (*apierr.Error, bool) {
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Code == "ResourceNotFoundException" {
		return ae, true
	}
	return nil, false
}

func errLocalRegion() error {
	return apierr.Validation("Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.")
}

func errAlreadyReplica(table string) error {
	return apierr.Validation("Failed to create a the new replica of table with name: '%s' because one or more replicas already existed as tables.", table)
}

func errNotReplicas(regions []string) error {
	return apierr.Validation("Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [%s].", strings.Join(regions, ", "))
}

// update is the engine's Update hook: UpdateTable's ReplicaUpdates. Every
// request is validated before anything changes; a Create is sent to the new
// region at once (a refusal from it fails the request; an unreachable region
// gets it again at every reconciliation), a Delete reaches the replica
// through the replica set.
func (m *Manager) update(ctx context.Context, table string, raws []json.RawMessage) error {
	var creates, deletes, updates []string
	for i, raw := range raws {
		var u replicationGroupUpdate
		if err := json.Unmarshal(raw, &u); err != nil {
			return apierr.Serialization("Start of structure or map found where not expected.")
		}
		n := 0
		for _, on := range []bool{u.Create != nil, u.Update != nil, u.Delete != nil} {
			if on {
				n++
			}
		}
		if n == 0 {
			return apierr.Validation("There are no actions specified in the Replica Update Action of the request.")
		}
		if n > 1 {
			return apierr.Validation("Update table operation with more than one type of replica actions not allowed.")
		}
		region := func(a *replicaAction, action string) (string, error) {
			if a.RegionName == nil || *a.RegionName == "" {
				return "", apierr.Validation("1 validation error detected: Value null at 'replicaUpdates.%d.member.%s.regionName' failed to satisfy constraint: Member must not be null", i+1, action)
			}
			return *a.RegionName, nil
		}
		switch {
		case u.Create != nil:
			r, err := region(u.Create, "create")
			if err != nil {
				return err
			}
			creates = append(creates, r)
		case u.Delete != nil:
			r, err := region(u.Delete, "delete")
			if err != nil {
				return err
			}
			deletes = append(deletes, r)
		default:
			var a replicaAction
			_ = json.Unmarshal(*u.Update, &a)
			r, err := region(&a, "update")
			if err != nil {
				return err
			}
			updates = append(updates, r)
		}
	}
	kinds := 0
	for _, l := range [][]string{creates, deletes, updates} {
		if len(l) > 0 {
			kinds++
		}
	}
	if kinds > 1 {
		return apierr.Validation("Update table operation with more than one type of replica actions not allowed.")
	}

	m.opMu.Lock()
	defer m.opMu.Unlock()
	cur := m.currentSet(table)
	for _, r := range append(append(append([]string(nil), creates...), deletes...), updates...) {
		if r == m.local {
			return errLocalRegion()
		}
	}
	for _, r := range creates {
		if _, ok := m.cfg.Peers[r]; !ok {
			regions := append(m.peerNames(), m.local)
			sort.Strings(regions)
			return apierr.Validation("Region %s is not supported. The latest version of global tables are only supported in the following regions: [%s].", r, strings.Join(regions, ", "))
		}
		if cur != nil && cur.Members[r].live() {
			return errAlreadyReplica(table)
		}
	}
	var missing []string
	for _, r := range append(append([]string(nil), deletes...), updates...) {
		if cur == nil || !cur.Members[r].live() {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return errNotReplicas(missing)
	}
	if cur != nil && len(creates)+len(deletes) > 0 {
		if r := cur.busy(); r != "" {
			// NB: AWS answers ResourceInUseException while a replica is
			// being created or deleted; the message is godwit's.
			return apierr.ResourceInUse("Attempt to change a resource which is still in use: Replica %s of table %s is %s", r, table, cur.Members[r].Status)
		}
	}
	switch {
	case len(creates) > 0:
		return m.addReplicas(ctx, table, cur, creates)
	case len(deletes) > 0:
		next := cur.clone()
		for _, r := range deletes {
			next.set(r, m.local, Member{Status: StatusDeleting})
		}
		if err := m.commit(table, next); err != nil {
			return err
		}
		m.log.Info("replica removal requested", "table", table, "regions", deletes)
		return nil
	}
	return nil // Update: nothing godwit honours
}

// addReplicas turns the table global (a NEW_AND_OLD_IMAGES stream when it
// has none, tombstones on), sends the definition to each new region and
// stores the set with them CREATING. Caller holds opMu.
func (m *Manager) addReplicas(ctx context.Context, table string, cur *ReplicaSet, regions []string) error {
	info, ok := m.db.Table(table)
	if !ok {
		return apierr.TableNotFound(table)
	}
	if info.Stream == nil {
		on := true
		_, err := m.db.UpdateTable(ctx, &engine.UpdateTableInput{TableName: table,
			StreamSpecification: &engine.StreamSpecification{StreamEnabled: &on, StreamViewType: "NEW_AND_OLD_IMAGES"}})
		if err != nil {
			return fmt.Errorf("globaltables: enable the stream of %s: %w", table, err)
		}
	}
	wasGlobal := cur != nil
	if err := m.db.SetReplicated(table, true); err != nil {
		return err
	}
	next := newReplicaSet(table)
	if cur != nil {
		next = cur.clone()
	}
	if !next.Members[m.local].live() {
		next.set(m.local, m.local, Member{Status: StatusActive})
	}
	if err := m.initSettings(table, next); err != nil {
		m.revert(table, wasGlobal)
		return err
	}
	for _, r := range regions {
		next.set(r, m.local, Member{Status: StatusCreating, Source: m.local})
	}
	def, err := m.db.TableDefinition(table)
	if err != nil {
		return err
	}
	for _, r := range regions {
		reply, err := m.request(ctx, r, verbCreate, controlRequest{Table: table, Set: next, Definition: &def})
		switch {
		case err != nil:
			// NB: an unreachable region is not an error: the create is
			// sent again at every reconciliation until it answers.
			m.log.Warn("new replica's region not reached; will retry", "table", table, "region", r, "error", err)
		case reply.Exists:
			m.revert(table, wasGlobal)
			return errAlreadyReplica(table)
		case reply.Error != "":
			m.revert(table, wasGlobal)
			return apierr.Validation("Failed to create the replica of table %s in region %s: %s", table, r, reply.Error)
		default:
			next.Merge(reply.Set)
		}
	}
	if err := m.commit(table, next); err != nil {
		return err
	}
	m.log.Info("replicas requested", "table", table, "regions", regions)
	return nil
}

// revert undoes SetReplicated for a table that was regional before a
// refused create. The stream turned on stays (as after AWS's failures).
func (m *Manager) revert(table string, wasGlobal bool) {
	if !wasGlobal {
		_ = m.db.SetReplicated(table, false)
	}
}
