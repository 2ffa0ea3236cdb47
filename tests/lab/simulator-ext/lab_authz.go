// Lab extension: vCenter's authorization. The stock simulator lets every user do everything and
// answers every privilege query with "granted". Here users other than the lab's administrator
// (LAB_USER) hold what the permissions set through the AuthorizationManager give them, with
// vCenter's rules (docs/vsphere-rules.md, "Privileges"): a permission on an entity applies to it
// and, when it propagates, to everything below; the permission nearest to the entity wins; a
// virtual machine inherits both from its folder and from its resource pool. Each method the
// collection calls is refused with NoPermission, naming the object and the privilege, when the
// caller lacks what VMware's API reference lists for it.
package simulator

import (
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	labAuthzMu sync.Mutex
	labAdmin   string                // the lab's own user: an administrator, as vCenter's is
	labUsers   = map[string]string{} // the other users' passwords, made through /lab/users
	labAM      *AuthorizationManager // the stock manager, which keeps the roles and permissions
)

// labSystemPrivileges every role holds (vCenter adds them to each role).
var labSystemPrivileges = []string{"System.Anonymous", "System.View", "System.Read"}

// LabAddUser makes (or changes the password of) a user who can log in and holds nothing until
// a permission gives it a role.
func LabAddUser(name, password string) {
	labAuthzMu.Lock()
	defer labAuthzMu.Unlock()
	labUsers[name] = password
}

func labValidLogin(name, password string) bool {
	labAuthzMu.Lock()
	defer labAuthzMu.Unlock()
	known, ok := labUsers[name]
	return ok && known == password
}

type labNeed struct {
	privilege string
	entity    types.ManagedObjectReference
}

// labAuthorize refuses the call when the session's user lacks a privilege it needs (nil: allowed).
func labAuthorize(ctx *Context, handler mo.Reference, method *Method) types.BaseMethodFault {
	if labAM == nil || ctx.Session == nil || ctx.Session.UserName == labAdmin || !labIsUser(ctx.Session.UserName) {
		return nil
	}
	for _, need := range labRequired(handler, method) {
		if !labHolds(ctx.Session.UserName, need.entity, need.privilege) {
			return &types.NoPermission{Object: need.entity, PrivilegeId: need.privilege}
		}
	}
	return nil
}

func labIsUser(name string) bool {
	labAuthzMu.Lock()
	defer labAuthzMu.Unlock()
	_, ok := labUsers[name]
	return ok
}

// labRequired lists what a method needs, and on which object (VMware's API reference, "Required
// privileges" of each method; the ones the collection calls).
func labRequired(handler mo.Reference, method *Method) []labNeed {
	this := method.This
	vmOf := func() types.ManagedObjectReference {
		if snapshot, ok := handler.(*VirtualMachineSnapshot); ok {
			return snapshot.Vm
		}
		return this
	}
	one := func(privilege string) []labNeed { return []labNeed{{privilege, vmOf()}} }
	switch method.Name {
	case "CreateSnapshot_Task":
		return one("VirtualMachine.State.CreateSnapshot")
	case "RemoveSnapshot_Task", "RemoveAllSnapshots_Task":
		return one("VirtualMachine.State.RemoveSnapshot")
	case "RevertToSnapshot_Task", "RevertToCurrentSnapshot_Task":
		return one("VirtualMachine.State.RevertToSnapshot")
	case "PowerOnVM_Task":
		return one("VirtualMachine.Interact.PowerOn")
	case "PowerOffVM_Task", "ShutdownGuest":
		return one("VirtualMachine.Interact.PowerOff")
	case "ResetVM_Task", "RebootGuest":
		return one("VirtualMachine.Interact.Reset")
	case "SuspendVM_Task":
		return one("VirtualMachine.Interact.Suspend")
	case "QueryChangedDiskAreas":
		return one("VirtualMachine.Provisioning.DiskRandomRead")
	case "Destroy_Task":
		if this.Type == "VirtualMachine" {
			return labOnThisAndParent(this, "VirtualMachine.Inventory.Delete")
		}
	case "UnregisterVM":
		return labOnThisAndParent(this, "VirtualMachine.Inventory.Unregister")
	case "ReconfigVM_Task":
		if req, ok := method.Body.(*types.ReconfigVM_Task); ok {
			return labReconfigNeeds(this, &req.Spec)
		}
	case "CreateVM_Task":
		if req, ok := method.Body.(*types.CreateVM_Task); ok {
			return labCreateNeeds(this, req)
		}
	}
	return nil
}

// labOnThisAndParent: deleting or unregistering a VM needs the privilege on it and on its folder.
func labOnThisAndParent(this types.ManagedObjectReference, privilege string) []labNeed {
	needs := []labNeed{{privilege, this}}
	if e, ok := Map.Get(this).(mo.Entity); ok && e.Entity().Parent != nil {
		needs = append(needs, labNeed{privilege, *e.Entity().Parent})
	}
	return needs
}

func labReconfigNeeds(vm types.ManagedObjectReference, spec *types.VirtualMachineConfigSpec) []labNeed {
	var needs []labNeed
	add := func(privilege string) { needs = append(needs, labNeed{privilege, vm}) }
	if spec.ChangeTrackingEnabled != nil {
		add("VirtualMachine.Config.ChangeTracking")
	}
	if len(spec.ExtraConfig) > 0 {
		add("VirtualMachine.Config.AdvancedConfig")
	}
	if spec.Name != "" {
		add("VirtualMachine.Config.Rename")
	}
	if spec.NumCPUs != 0 {
		add("VirtualMachine.Config.CPUCount")
	}
	if spec.MemoryMB != 0 {
		add("VirtualMachine.Config.Memory")
	}
	for _, change := range spec.DeviceChange {
		add(labDeviceChangePrivilege(change.GetVirtualDeviceConfigSpec()))
	}
	if len(needs) == 0 {
		add("VirtualMachine.Config.Settings")
	}
	return needs
}

func labDeviceChangePrivilege(change *types.VirtualDeviceConfigSpec) string {
	disk, isDisk := change.Device.(*types.VirtualDisk)
	if !isDisk {
		if change.Operation == types.VirtualDeviceConfigSpecOperationEdit {
			return "VirtualMachine.Config.EditDevice"
		}
		return "VirtualMachine.Config.AddRemoveDevice"
	}
	if _, rdm := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); rdm &&
		change.Operation != types.VirtualDeviceConfigSpecOperationRemove {
		return "VirtualMachine.Config.RawDevice"
	}
	switch change.Operation {
	case types.VirtualDeviceConfigSpecOperationAdd:
		if change.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate {
			return "VirtualMachine.Config.AddNewDisk"
		}
		return "VirtualMachine.Config.AddExistingDisk"
	case types.VirtualDeviceConfigSpecOperationRemove:
		return "VirtualMachine.Config.RemoveDisk"
	}
	return "VirtualMachine.Config.EditDevice"
}

// labCreateNeeds: a new VM needs VirtualMachine.Inventory.Create on its folder, its resource pool,
// space on its datastore, each network it joins, and for each disk it creates or maps the
// disk privilege (VMware's CreateVM_Task reference lists them).
func labCreateNeeds(folder types.ManagedObjectReference, req *types.CreateVM_Task) []labNeed {
	needs := []labNeed{{"VirtualMachine.Inventory.Create", folder}, {"Resource.AssignVMToPool", req.Pool}}
	if ds := labDatastoreOf(req.Config.Files); ds != nil {
		needs = append(needs, labNeed{"Datastore.AllocateSpace", *ds})
	}
	for _, change := range req.Config.DeviceChange {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		if _, isDisk := spec.Device.(*types.VirtualDisk); isDisk {
			needs = append(needs, labNeed{labDeviceChangePrivilege(spec), folder})
			continue
		}
		if card, ok := spec.Device.(types.BaseVirtualEthernetCard); ok {
			if network := labNetworkOf(card.GetVirtualEthernetCard().Backing); network != nil {
				needs = append(needs, labNeed{"Network.Assign", *network})
			}
		}
	}
	return needs
}

func labDatastoreOf(files *types.VirtualMachineFileInfo) *types.ManagedObjectReference {
	if files == nil || !strings.HasPrefix(files.VmPathName, "[") {
		return nil
	}
	name := files.VmPathName[1:strings.Index(files.VmPathName, "]")]
	for _, e := range Map.All("Datastore") {
		if ds := e.(*Datastore); ds.Name == name {
			ref := ds.Self
			return &ref
		}
	}
	return nil
}

func labNetworkOf(backing types.BaseVirtualDeviceBackingInfo) *types.ManagedObjectReference {
	switch b := backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		return b.Network
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		for _, e := range Map.All("DistributedVirtualPortgroup") {
			if pg := e.(*DistributedVirtualPortgroup); pg.Key == b.Port.PortgroupKey {
				ref := pg.Self
				return &ref
			}
		}
	}
	return nil
}

// labHolds says whether user holds privilege on entity.
func labHolds(user string, entity types.ManagedObjectReference, privilege string) bool {
	if user == labAdmin {
		return true
	}
	return labPrivileges(user, entity)[privilege]
}

// labPrivileges are the privileges user holds on entity: on each path up the inventory (a VM's
// folders, and its resource pools), the nearest permission naming the user applies if it is on
// the entity itself or propagates; a VM holds the union of both paths.
func labPrivileges(user string, entity types.ManagedObjectReference) map[string]bool {
	held := map[string]bool{}
	am := labAM
	roles := object.AuthorizationRoleList(am.RoleList)
	for _, path := range labInheritancePaths(entity) {
		for i, ref := range path {
			permission := labPermissionOf(am, ref, user)
			if permission == nil {
				continue
			}
			if i == 0 || permission.Propagate {
				if role := roles.ById(permission.RoleId); role != nil {
					for _, id := range role.Privilege {
						held[id] = true
					}
					if role.RoleId != -5 { // NoAccess holds nothing at all
						for _, id := range labSystemPrivileges {
							held[id] = true
						}
					}
				}
			}
			break
		}
	}
	return held
}

func labPermissionOf(am *AuthorizationManager, entity types.ManagedObjectReference, user string) *types.Permission {
	for _, p := range am.permissions[entity] {
		if !p.Group && p.Principal == user {
			permission := p
			return &permission
		}
	}
	return nil
}

// labInheritancePaths: from the entity up to the root folder, and for a VM also through its
// resource pool.
func labInheritancePaths(entity types.ManagedObjectReference) [][]types.ManagedObjectReference {
	up := func(start types.ManagedObjectReference) []types.ManagedObjectReference {
		var path []types.ManagedObjectReference
		for ref := &start; ref != nil; {
			path = append(path, *ref)
			e, ok := Map.Get(*ref).(mo.Entity)
			if !ok {
				break
			}
			ref = e.Entity().Parent
		}
		return path
	}
	paths := [][]types.ManagedObjectReference{up(entity)}
	if vm, ok := Map.Get(entity).(*VirtualMachine); ok && vm.ResourcePool != nil {
		paths = append(paths, append([]types.ManagedObjectReference{entity}, up(*vm.ResourcePool)...))
	}
	return paths
}

// LabHolds answers for the lab's control endpoint (the VDDK double, datastore file access).
func LabHolds(sessionKey string, entity types.ManagedObjectReference, privilege string) bool {
	session, ok := Map.SessionManager().getSession(sessionKey)
	return ok && labHolds(session.UserName, entity, privilege)
}

// LabDatastoreNamed finds a datastore by name (datastore file access names it so).
func LabDatastoreNamed(name string) (types.ManagedObjectReference, bool) {
	for _, e := range Map.All("Datastore") {
		if ds := e.(*Datastore); ds.Name == name {
			return ds.Self, true
		}
	}
	return types.ManagedObjectReference{}, false
}

// LabAuthorizationManager answers privilege queries from the permissions, where the stock one
// answers "granted" to everything. Embedded by value: the property collector finds the managed
// object's type among the fields.
type LabAuthorizationManager struct {
	AuthorizationManager
}

func (m *LabAuthorizationManager) userOf(ctx *Context, sessionID string) string {
	if sessionID != "" {
		if session, ok := Map.SessionManager().getSession(sessionID); ok {
			return session.UserName
		}
	}
	if ctx.Session != nil {
		return ctx.Session.UserName
	}
	return ""
}

func (m *LabAuthorizationManager) entityPrivileges(user string, entities []types.ManagedObjectReference, ids []string) []types.EntityPrivilege {
	var result []types.EntityPrivilege
	for _, e := range entities {
		privilege := types.EntityPrivilege{Entity: e}
		for _, id := range ids {
			privilege.PrivAvailability = append(privilege.PrivAvailability, types.PrivilegeAvailability{
				PrivId: id, IsGranted: labHolds(user, e, id)})
		}
		result = append(result, privilege)
	}
	return result
}

func (m *LabAuthorizationManager) HasPrivilegeOnEntities(ctx *Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{
		Returnval: m.entityPrivileges(m.userOf(ctx, req.SessionId), req.Entity, req.PrivId)}}
}

func (m *LabAuthorizationManager) HasPrivilegeOnEntity(ctx *Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	user := m.userOf(ctx, req.SessionId)
	granted := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		granted[i] = labHolds(user, req.Entity, id)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: granted}}
}

func (m *LabAuthorizationManager) HasUserPrivilegeOnEntities(req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{
		Returnval: m.entityPrivileges(req.UserName, req.Entities, req.PrivId)}}
}

func (m *LabAuthorizationManager) FetchUserPrivilegeOnEntities(req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	var result []types.UserPrivilegeResult
	for _, e := range req.Entities {
		var privileges []string
		if req.UserName == labAdmin {
			privileges = object.AuthorizationRoleList(m.RoleList).ByName("Admin").Privilege
		} else {
			for id := range labPrivileges(req.UserName, e) {
				privileges = append(privileges, id)
			}
		}
		result = append(result, types.UserPrivilegeResult{Entity: e, Privileges: privileges})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: result}}
}

// SetEntityPermissions adds or updates each given permission by its principal, as vCenter does;
// the stock simulator replaced the entity's whole list.
func (m *LabAuthorizationManager) SetEntityPermissions(req *types.SetEntityPermissions) soap.HasFault {
	kept := m.permissions[req.Entity][:0:0]
	for _, p := range m.permissions[req.Entity] {
		replaced := false
		for _, given := range req.Permission {
			replaced = replaced || (given.Principal == p.Principal && given.Group == p.Group)
		}
		if !replaced {
			kept = append(kept, p)
		}
	}
	for _, given := range req.Permission {
		given.Entity = &req.Entity
		kept = append(kept, given)
	}
	m.permissions[req.Entity] = kept
	return &methods.SetEntityPermissionsBody{Res: &types.SetEntityPermissionsResponse{}}
}

// InstallLabAuthorization puts the lab's AuthorizationManager in place of the stock one.
func InstallLabAuthorization(administrator string) {
	labAdmin = administrator
	stock := Map.Get(*Map.content().AuthorizationManager).(*AuthorizationManager)
	replacement := &LabAuthorizationManager{*stock}
	labAM = &replacement.AuthorizationManager // the roles and permissions live in the replacement from now on
	Map.Put(replacement)
}
