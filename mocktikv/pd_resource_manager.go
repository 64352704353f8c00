package mocktikv

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
)

// PD's resource manager (pkg/mcs/resourcemanager/server, served by PD
// itself in the non-microservice mode) keeps resource groups and hands
// out request units (RU) to the resource-group controllers of clients
// (github.com/tikv/pd/client/resource_group/controller) through the
// AcquireTokenBuckets stream. rmState is that manager for the mock, with
// these simplifications, stated so no test trips on them unawares:
//   - one key space of groups: the keyspace id of a request is ignored
//     (PD keeps a group set per keyspace);
//   - RU mode only (PD panics on raw mode too); no service limit, runaway
//     or background handling beyond storing the settings;
//   - one token slot per group: every client shares the group's bucket,
//     as PD's bucket does when a single client uses the group (PD splits
//     the fill rate between clients by their demand);
//   - a group with burst limit 0 ("rate controlled") keeps no stored
//     tokens: each grant is trickled at the fill rate over at most the
//     target period (PD loans against the same rate);
//   - consumption reports are added to the group's RU stats at once (PD
//     does it on a background loop), and nothing is persisted.
//
// The settings of each group are also visible, as in PD, in the meta
// storage under resource_group/settings/{name} (a marshalled
// rmpb.ResourceGroup), next to the controller configuration PD saves at
// resource_group/controller: meta storage Get (pd_meta_storage.go, and the
// in-process PD's Get) reads this state, and Watch follows its changes
// from the current revision on (pd_resource_manager_watch.go).

// The resource manager's constants (keyspace_manager.go, token_buckets.go).
const (
	rmDefaultGroup        = "default"
	rmUnlimitedRate       = math.MaxInt32
	rmUnlimitedBurst      = -1
	rmMiddlePriority      = 8
	rmMaxPriority         = 16
	rmDefaultRefillRate   = 10000
	rmDefaultInitTokens   = 10 * 10000
	rmDefaultReserveRatio = 0.5
	rmLoanCoefficient     = 2
	rmModeratedBurstRate  = 10000
	rmSettingsPrefix      = "resource_group/settings/"
	rmControllerConfigKey = "resource_group/controller"
)

// rmControllerConfig is the controller configuration PD saves at
// resource_group/controller on start (ControllerConfig in
// pkg/mcs/resourcemanager/server/config.go, with its defaults: the RU
// model, a 30s longest wait for local tokens, 1s of token RPC retries, no
// degraded mode). Clients load it, and watch it for changes.
const rmControllerConfig = `{"degraded-mode-wait-duration":"0s","ltb-max-wait-duration":"30s",` +
	`"ltb-token-rpc-max-delay":"1s","request-unit":{"read-base-cost":0.125,"read-per-batch-base-cost":0.5,` +
	`"read-cost-per-byte":0.0000152587890625,"write-base-cost":1,"write-per-batch-base-cost":1,` +
	`"write-cost-per-byte":0.0009765625,"read-cpu-ms-cost":0.3333333333333333},` +
	`"enable-controller-trace-log":"false"}`

// rmGroupNotExists is PD's ErrResourceGroupNotExists text (pkg/errs), which
// the controller recognises in the error it gets.
func rmGroupNotExists(name string) string {
	return fmt.Sprintf("[PD:resourcemanager:ErrGroupNotExists]the %s resource group does not exist", name)
}

// rmState is the mock's resource manager.
type rmState struct {
	mu       sync.Mutex
	groups   map[string]*rmGroup
	rev      int64 // meta storage revision of the settings keys
	watchers []*rmWatcher
}

// rmGroup is one resource group: its settings, its bucket's running state
// and the RU consumption clients reported.
type rmGroup struct {
	meta        *rmpb.ResourceGroup // settings only (no RUStats), owned
	tokens      float64
	lastUpdate  time.Time
	initialized bool
	consumption rmpb.Consumption
	modRev      int64
}

func newRMState() *rmState {
	s := &rmState{groups: map[string]*rmGroup{}, rev: 1}
	// PD creates the reserved default group with every keyspace: unlimited
	// rate and burst, middle priority (newDefaultResourceGroup).
	def := &rmpb.ResourceGroup{
		Name:     rmDefaultGroup,
		Mode:     rmpb.GroupMode_RUMode,
		Priority: rmMiddlePriority,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{
			Settings: &rmpb.TokenLimitSettings{FillRate: rmUnlimitedRate, BurstLimit: rmUnlimitedBurst},
		}},
	}
	s.putLocked(def)
	return s
}

// validateGroup is PD's validateResourceGroupProto plus the checks of
// patchSettings: a name, RU mode with RU settings, priority in [0, 16].
func validateGroup(g *rmpb.ResourceGroup) error {
	switch {
	case g == nil || g.GetName() == "":
		return fmt.Errorf("[PD:resourcemanager:ErrInvalidGroup]invalid group settings, please check the group name")
	case g.GetMode() != rmpb.GroupMode_RUMode:
		return fmt.Errorf("[PD:resourcemanager:ErrInvalidGroup]invalid group settings, please check the group mode (mocktikv serves RU mode only)")
	case g.GetRUSettings().GetRU().GetSettings() == nil:
		return fmt.Errorf("invalid resource group settings, RU mode should set RU settings")
	case g.GetPriority() > rmMaxPriority:
		return fmt.Errorf("invalid resource group priority, the value should be in [0,16]")
	}
	return nil
}

// settingsOf copies the settings PD keeps of a group (IntoProtoResourceGroup
// without stats; tokens are the bucket's).
func (g *rmGroup) settingsOf() *rmpb.ResourceGroup {
	out := proto.Clone(g.meta).(*rmpb.ResourceGroup)
	out.RUStats = nil
	out.KeyspaceId = nil
	if tb := out.GetRUSettings().GetRU(); tb != nil {
		tb.Tokens = g.tokens
	}
	return out
}

// out is the group as GetResourceGroup returns it.
func (g *rmGroup) out(withStats bool) *rmpb.ResourceGroup {
	r := g.settingsOf()
	if withStats {
		c := g.consumption
		r.RUStats = &c
	}
	return r
}

// putLocked stores a group's settings, new or replacing, and tells the
// watchers.
func (s *rmState) putLocked(meta *rmpb.ResourceGroup) {
	g := s.groups[meta.Name]
	if g == nil {
		g = &rmGroup{}
		s.groups[meta.Name] = g
		// A new group starts with the tokens its settings carry
		// (NewGroupTokenBucket).
		g.tokens = meta.GetRUSettings().GetRU().GetTokens()
	}
	g.meta = proto.Clone(meta).(*rmpb.ResourceGroup)
	g.meta.RUStats, g.meta.KeyspaceId = nil, nil
	s.rev++
	g.modRev = s.rev
	s.notifyLocked(meta_storagepb.Event_PUT, g, nil)
}

// add is AddResourceGroup: PD's add replaces an existing group (TiDB
// relies on it being idempotent).
func (s *rmState) add(g *rmpb.ResourceGroup) error {
	if err := validateGroup(g); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// FromProtoResourceGroup builds a new bucket, also for a group that
	// exists.
	delete(s.groups, g.Name)
	s.putLocked(g)
	return nil
}

// modify is ModifyResourceGroup: the settings are replaced and the token
// delta the request carries is added to the bucket (PatchSettings).
func (s *rmState) modify(g *rmpb.ResourceGroup) error {
	if g == nil || g.GetName() == "" {
		return fmt.Errorf("[PD:resourcemanager:ErrInvalidGroup]invalid group settings, please check the group name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.groups[g.Name]
	if cur == nil {
		return fmt.Errorf("%s", rmGroupNotExists(g.Name))
	}
	if g.GetMode() != cur.meta.GetMode() {
		return fmt.Errorf("only support reconfigure in same mode, maybe you should delete and create a new one")
	}
	if err := validateGroup(g); err != nil {
		return err
	}
	cur.tokens += g.GetRUSettings().GetRU().GetTokens()
	if cur.tokens < 0 {
		// New settings forgive the loans made under the old ones
		// (updateTokens resets them when the settings changed).
		cur.tokens = 0
	}
	s.putLocked(g)
	return nil
}

// remove is DeleteResourceGroup; the default group is reserved.
func (s *rmState) remove(name string) error {
	if name == rmDefaultGroup {
		return fmt.Errorf("[PD:resourcemanager:ErrDeleteReservedGroup]cannot delete reserved group")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return fmt.Errorf("%s", rmGroupNotExists(name))
	}
	delete(s.groups, name)
	s.rev++
	s.notifyLocked(meta_storagepb.Event_DELETE, nil, g)
	return nil
}

// get returns a copy of a group, or nil.
func (s *rmState) get(name string, withStats bool) *rmpb.ResourceGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[name]; g != nil {
		return g.out(withStats)
	}
	return nil
}

// list returns copies of every group, by name.
func (s *rmState) list(withStats bool) []*rmpb.ResourceGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.groups))
	for n := range s.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*rmpb.ResourceGroup, len(names))
	for i, n := range names {
		out[i] = s.groups[n].out(withStats)
	}
	return out
}

// settingsKV is a group's meta storage entry.
func (g *rmGroup) settingsKV() *meta_storagepb.KeyValue {
	v, err := proto.Marshal(g.settingsOf())
	if err != nil {
		panic(fmt.Sprintf("mocktikv: marshal resource group: %v", err)) // a proto bug
	}
	return &meta_storagepb.KeyValue{Key: []byte(rmSettingsPrefix + g.meta.Name), Value: v, ModRevision: g.modRev, CreateRevision: g.modRev}
}

// metaRange reads the settings keys in [key, end) (end empty: key alone;
// "\x00": every key from key on), as meta storage Get does.
func (s *rmState) metaRange(key, end []byte) ([]*meta_storagepb.KeyValue, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*meta_storagepb.KeyValue
	if cfg := []byte(rmControllerConfigKey); keyInRange(cfg, key, end) {
		out = append(out, &meta_storagepb.KeyValue{Key: cfg, Value: []byte(rmControllerConfig), CreateRevision: 1, ModRevision: 1})
	}
	for _, g := range s.groups {
		kv := g.settingsKV()
		if keyInRange(kv.Key, key, end) {
			out = append(out, kv)
		}
	}
	slices.SortFunc(out, func(a, b *meta_storagepb.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return out, s.rev
}

// keyInRange is etcd's range rule.
func keyInRange(k, key, end []byte) bool {
	if len(end) == 0 {
		return bytes.Equal(k, key)
	}
	return bytes.Compare(k, key) >= 0 && (isAllKeys(end) || bytes.Compare(k, end) < 0)
}

// isRMKey reports whether a meta storage key belongs to the resource
// manager (the settings and the controller configuration).
func isRMKey(key []byte) bool { return strings.HasPrefix(string(key), "resource_group/") }
