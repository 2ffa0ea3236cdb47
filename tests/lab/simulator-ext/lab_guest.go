// Lab extension: the guest as vSphere sees it. VMware Tools run while the VM is on and its guest
// booted (lab_boot.go), unless a test says the guest has none; ShutdownGuest and RebootGuest need them and act later, as a
// real guest OS does; a VM can be made to ask the uuid.altered question at its next power-on,
// which then waits for AnswerVM; and a snapshot removal can be made to leave its delta behind
// (consolidationNeeded) for ConsolidateVMDisks to merge.

package simulator

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// LabGuestSeconds is how long a guest takes to shut down or reboot.
var LabGuestSeconds = 2.0

// LabVMOptions are what a test can set on one VM through the control endpoint.
type LabVMOptions struct {
	Question               string `json:"question"` // a message id to ask at the next power-on
	ToolsInstalled         *bool  `json:"tools_installed"`
	LeaveDeltaOnNextRemove bool   `json:"leave_delta_on_next_remove"`
	InstallBootSector      bool   `json:"install_boot_sector"` // make the boot disk bootable, as an OS install does
}

type labMergeJob struct {
	key   int32
	child string
}

var (
	labNoTools       = map[types.ManagedObjectReference]bool{}
	labQuestionArmed = map[types.ManagedObjectReference]string{}
	labAwaiting      = map[types.ManagedObjectReference]*Task{}
	labSkipMerge     = map[types.ManagedObjectReference]bool{}
	labPendingMerges = map[types.ManagedObjectReference][]labMergeJob{}
	// labPowerCycles counts each VM's power tasks: a guest action scheduled before one is void
	// (a hard power-off ends the guest's own shutdown or reboot).
	labPowerCycles    = map[types.ManagedObjectReference]int{}
	labAwaitingAnswer = time.Duration(-1)
)

// LabConfigureVM applies a test's options to a VM.
func LabConfigureVM(vmID string, opts LabVMOptions) error {
	vm, err := LabFindVM(vmID)
	if err != nil {
		return err
	}
	Map.WithLock(vm, func() {
		labMu.Lock()
		defer labMu.Unlock()
		if opts.InstallBootSector {
			err = labInstallBootSector(vm)
		}
		if opts.Question != "" {
			labQuestionArmed[vm.Self] = opts.Question
		}
		if opts.ToolsInstalled != nil {
			labNoTools[vm.Self] = !*opts.ToolsInstalled
			labSetToolsState(vm)
		}
		if opts.LeaveDeltaOnNextRemove {
			labSkipMerge[vm.Self] = true
		}
	})
	return err
}

func labToolsRunning(vm *VirtualMachine) bool {
	return vm.Guest != nil && vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
}

// labSetToolsState makes the guest's Tools state follow the power state.
func labSetToolsState(vm *VirtualMachine) {
	running := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && labBooted[vm.Self] && !labNoTools[vm.Self]
	status, state, tools := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning, "notRunning", types.VirtualMachineToolsStatusToolsNotRunning
	if running {
		status, state, tools = types.VirtualMachineToolsRunningStatusGuestToolsRunning, "running", types.VirtualMachineToolsStatusToolsOk
	}
	if labNoTools[vm.Self] {
		tools = types.VirtualMachineToolsStatusToolsNotInstalled
	}
	Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: string(status)},
		{Name: "guest.toolsStatus", Val: tools},
		{Name: "guest.guestState", Val: state},
		{Name: "guest.ipAddress", Val: labGuestIP(vm, running)},
	})
	Map.Update(vm, []types.PropertyChange{{Name: "guestHeartbeatStatus", Val: labHeartbeat(vm)}})
	labFollowServices(vm, labGuestIP(vm, running))
}

// labHeartbeat is what vCenter shows of Tools' heartbeat: gray without Tools running, red while a
// datastore of the VM is inaccessible (the guest's I/O hangs, its heartbeats stop), else green.
func labHeartbeat(vm *VirtualMachine) types.ManagedEntityStatus {
	if !labToolsRunning(vm) {
		return types.ManagedEntityStatusGray
	}
	for _, ref := range vm.Datastore {
		if ds, ok := Map.Get(ref).(*Datastore); ok && !ds.Summary.Accessible {
			return types.ManagedEntityStatusRed
		}
	}
	return types.ManagedEntityStatusGreen
}

// labGuestIP is the address Tools report: one per VM with a network card, while Tools run.
func labGuestIP(vm *VirtualMachine, running bool) string {
	nics := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil))
	if !running || len(nics) == 0 {
		return ""
	}
	h := fnv.New32a()
	h.Write([]byte(vm.Self.Value))
	// A loopback address (127.0.0.0/8): nothing the lab hands out leads off this machine, and a test
	// can listen on it for a drill's TCP check.
	return fmt.Sprintf("127.%d.%d.%d", 100+h.Sum32()%100, (h.Sum32()>>8)%256, 1+(h.Sum32()>>16)%254)
}

func labGuestFault(vm *VirtualMachine) types.BaseMethodFault {
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState}
	}
	if !labToolsRunning(vm) {
		return &types.ToolsUnavailable{}
	}
	return nil
}

// labLater runs a guest action after LabGuestSeconds, unless a power task came in between.
func labLater(vm *VirtualMachine, f func()) {
	cycle := labPowerCycles[vm.Self]
	go func() {
		time.Sleep(time.Duration(LabGuestSeconds * float64(time.Second)))
		Map.WithLock(vm, func() {
			labMu.Lock()
			defer labMu.Unlock()
			if labPowerCycles[vm.Self] == cycle {
				f()
			}
		})
	}()
}

// labShutdownGuest replaces the stock ShutdownGuest, which powered off at once without Tools.
func labShutdownGuest(vm *VirtualMachine) soap.HasFault {
	labMu.Lock()
	defer labMu.Unlock()
	body := &methods.ShutdownGuestBody{}
	if fault := labGuestFault(vm); fault != nil {
		body.Fault_ = Fault(labLocalizedMessage(fault), fault)
		return body
	}
	labLater(vm, func() {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			return
		}
		vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
		Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
			{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
		})
		labSetToolsState(vm)
	})
	body.Res = new(types.ShutdownGuestResponse)
	return body
}

// RebootGuest (missing from the stock simulator): Tools stop while the guest restarts.
func (vm *VirtualMachine) RebootGuest(req *types.RebootGuest) soap.HasFault {
	labMu.Lock()
	defer labMu.Unlock()
	body := &methods.RebootGuestBody{}
	if fault := labGuestFault(vm); fault != nil {
		body.Fault_ = Fault(labLocalizedMessage(fault), fault)
		return body
	}
	Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)}})
	labLater(vm, func() {
		labBoot(vm)
		labSetToolsState(vm)
	})
	body.Res = new(types.RebootGuestResponse)
	return body
}

// labBeforePowerTask runs before a power task executes: an armed question is asked, and the
// task waits for AnswerVM. It reports whether the task must wait.
func labBeforePowerTask(t *Task, vm *VirtualMachine) bool {
	if labTaskMethod(t.Info.Name) != "poweron" {
		return false
	}
	message, armed := labQuestionArmed[vm.Self]
	if !armed {
		return false
	}
	delete(labQuestionArmed, vm.Self)
	text := "This virtual machine might have been moved or copied.\nIn order to configure certain management and " +
		"networking features, VMware ESX needs to know if this virtual machine was moved or copied.\n\n" +
		"If you don't know, answer \"I Copied It\".\n"
	question := &types.VirtualMachineQuestionInfo{
		Id:   fmt.Sprintf("_vmx%d", time.Now().UnixNano()%1000),
		Text: text,
		Choice: types.ChoiceOption{
			ChoiceInfo: []types.BaseElementDescription{
				&types.ElementDescription{Description: types.Description{Label: "Cancel", Summary: "Cancel"}, Key: "0"},
				&types.ElementDescription{Description: types.Description{Label: "I _Moved It", Summary: "I _Moved It"}, Key: "1"},
				&types.ElementDescription{Description: types.Description{Label: "I _Copied It", Summary: "I _Copied It"}, Key: "2"},
			},
			DefaultIndex: 2,
		},
		Message: []types.VirtualMachineMessage{{Id: message, Text: text}},
	}
	Map.Update(vm, []types.PropertyChange{{Name: "runtime.question", Val: question}})
	labAwaiting[vm.Self] = t
	return true
}

// labAfterVMTask keeps VMware Tools in step with the power state; a power task voids the guest
// actions pending from before it.
func labAfterVMTask(t *Task, vm *VirtualMachine) {
	switch labTaskMethod(t.Info.Name) {
	case "poweron", "reset":
		labPowerCycles[vm.Self]++
		labBoot(vm)
	case "poweroff", "suspend":
		labPowerCycles[vm.Self]++
	}
	labSetToolsState(vm)
}

// AnswerVM (missing from the stock simulator) answers the pending question and lets the waiting
// power-on go on: Cancel fails it, "I copied it" gives the VM a new BIOS uuid.
func (vm *VirtualMachine) AnswerVM(req *types.AnswerVM) soap.HasFault {
	labMu.Lock()
	defer labMu.Unlock()
	body := &methods.AnswerVMBody{}
	q := vm.Runtime.Question
	if q == nil || q.Id != req.QuestionId {
		body.Fault_ = Fault("A specified parameter was not correct: questionId", &types.InvalidArgument{InvalidProperty: "questionId"})
		return body
	}
	valid := false
	for _, c := range q.Choice.ChoiceInfo {
		valid = valid || c.GetElementDescription().Key == req.AnswerChoice
	}
	if !valid {
		body.Fault_ = Fault("A specified parameter was not correct: answerChoice", &types.InvalidArgument{InvalidProperty: "answerChoice"})
		return body
	}
	Map.Update(vm, []types.PropertyChange{{Name: "runtime.question", Val: nil}})
	if req.AnswerChoice == "2" {
		newUUID := uuid.New().String()
		Map.Update(vm, []types.PropertyChange{{Name: "config.uuid", Val: newUUID}, {Name: "summary.config.uuid", Val: newUUID}})
	}
	if t, ok := labAwaiting[vm.Self]; ok {
		delete(labAwaiting, vm.Self)
		var res types.AnyType
		var fault types.BaseMethodFault = &types.RequestCanceled{}
		if req.AnswerChoice != "0" {
			res, fault = t.Execute(t)
			labAfterVMTask(t, vm)
		}
		labComplete(t, res, fault)
	}
	body.Res = new(types.AnswerVMResponse)
	return body
}

func labComplete(t *Task, res types.AnyType, fault types.BaseMethodFault) {
	state := types.TaskInfoStateSuccess
	var info interface{}
	if fault != nil {
		state = types.TaskInfoStateError
		info = types.LocalizedMethodFault{Fault: fault, LocalizedMessage: labLocalizedMessage(fault)}
	}
	Map.Update(t, []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: state},
		{Name: "info.result", Val: res},
		{Name: "info.error", Val: info},
	})
}

// ConsolidateVMDisksTask (missing from the stock simulator) merges the deltas a snapshot
// removal left behind.
func (vm *VirtualMachine) ConsolidateVMDisksTask(req *types.ConsolidateVMDisks_Task) soap.HasFault {
	task := CreateTask(vm, "consolidateVMDisks", func(*Task) (types.AnyType, types.BaseMethodFault) {
		labMu.Lock()
		defer labMu.Unlock()
		for _, job := range labPendingMerges[vm.Self] {
			local, fault := labLocalPath(vm, job.child)
			if fault != nil {
				return nil, fault
			}
			if err := labCheckParentCID(local); err != nil {
				return nil, labFault(err)
			}
			if fault := labMerge(vm, job.key, job.child); fault != nil {
				return nil, fault
			}
		}
		delete(labPendingMerges, vm.Self)
		vm.Runtime.ConsolidationNeeded = types.NewBool(false) // Map.Update cannot set a *bool
		return nil, nil
	})
	return &methods.ConsolidateVMDisks_TaskBody{Res: &types.ConsolidateVMDisks_TaskResponse{Returnval: task.Run()}}
}
