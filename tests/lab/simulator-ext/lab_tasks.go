// Lab extension: task fault injection. A test sets rules through the control endpoint: fail
// the next N tasks of a method with a given fault, or let them run but report completion only
// after a delay (so a client's wait times out while vCenter still shows the task running).

package simulator

import (
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// LabTaskRule applies to tasks whose method (e.g. "CreateSnapshot_Task" or "createSnapshot")
// matches. Times is how many tasks it applies to (0: every one).
type LabTaskRule struct {
	Method       string  `json:"method"`
	Fault        string  `json:"fault"`   // a fault type name; empty: no fault
	Message      string  `json:"message"` // the fault's detail
	DelaySeconds float64 `json:"delay_seconds"`
	HoldFile     string  `json:"hold_file"` // a task that can be held (a move) waits midway until this file exists
	Times        int     `json:"times"`
	used         int
}

var (
	labTaskMu    sync.Mutex
	labTaskRules []*LabTaskRule
)

// LabSetTaskRules replaces the task rules.
func LabSetTaskRules(rules []*LabTaskRule) {
	labTaskMu.Lock()
	defer labTaskMu.Unlock()
	labTaskRules = rules
}

// labTaskMethod folds the SOAP method name ("PowerOffVM_Task", "ReconfigVM_Task") and the
// task's own name ("powerOff", "reconfigVm") to one key.
func labTaskMethod(name string) string {
	name = strings.ToLower(name)
	name = strings.TrimSuffix(strings.TrimSuffix(name, "_task"), "task")
	return strings.TrimSuffix(name, "vm")
}

// labRuleFor consumes a use of the first rule matching the task, if any.
func labRuleFor(t *Task) *LabTaskRule {
	labTaskMu.Lock()
	defer labTaskMu.Unlock()
	method := labTaskMethod(t.Info.Name)
	for _, r := range labTaskRules {
		if labTaskMethod(r.Method) == method && (r.Times == 0 || r.used < r.Times) {
			r.used++
			return r
		}
	}
	return nil
}

var (
	labDelayed   = map[*Task]time.Duration{}
	labHoldFiles = map[*Task]string{}
)

// labCompletesItself marks a task whose work goes on after its method returns (a move).
const labCompletesItself = time.Duration(-2)

func labExecute(t *Task) (types.AnyType, types.BaseMethodFault) {
	vm, isVM := Map.Get(*t.Info.Entity).(*VirtualMachine)
	if isVM && vm.Runtime.Question != nil {
		return nil, &types.TaskInProgress{} // a power-on waits for its question's answer
	}
	if isVM {
		labMu.Lock()
		waits := labBeforePowerTask(t, vm)
		labMu.Unlock()
		if waits {
			labTaskMu.Lock()
			labDelayed[t] = labAwaitingAnswer
			labTaskMu.Unlock()
			return nil, nil
		}
		defer func() {
			labMu.Lock()
			labAfterVMTask(t, vm)
			labMu.Unlock()
		}()
	}
	rule := labRuleFor(t)
	if rule != nil && rule.DelaySeconds > 0 {
		labTaskMu.Lock()
		labDelayed[t] = time.Duration(rule.DelaySeconds * float64(time.Second))
		labTaskMu.Unlock()
	}
	if rule != nil && rule.HoldFile != "" {
		labTaskMu.Lock()
		labHoldFiles[t] = rule.HoldFile
		labTaskMu.Unlock()
	}
	if rule != nil && rule.Fault != "" {
		return nil, labMakeFault(rule.Fault, rule.Message)
	}
	return t.Execute(t)
}

func labFinish(t *Task, complete func()) {
	labTaskMu.Lock()
	delay, ok := labDelayed[t]
	delete(labDelayed, t)
	delete(labHoldFiles, t)
	labTaskMu.Unlock()
	if !ok {
		complete()
		return
	}
	if delay == labAwaitingAnswer || delay == labCompletesItself {
		return // AnswerVM, or the task's own work, completes it
	}
	Map.Update(t, []types.PropertyChange{{Name: "info.progress", Val: int32(50)}})
	go func() {
		time.Sleep(delay)
		complete()
	}()
}

// labMakeFault builds the named vSphere fault with message as its detail.
func labMakeFault(name, message string) types.BaseMethodFault {
	switch name {
	case "FileLocked":
		return &types.FileLocked{FileFault: types.FileFault{File: message}}
	case "FileNotFound":
		return &types.FileNotFound{FileFault: types.FileFault{File: message}}
	case "FileFault":
		return &types.FileFault{File: message}
	case "InvalidState":
		return &types.InvalidState{}
	case "TaskInProgress":
		return &types.TaskInProgress{}
	case "NotEnoughLicenses", "InsufficientResourcesFault":
		return &types.InsufficientResourcesFault{}
	case "GenericVmConfigFault":
		return &types.GenericVmConfigFault{Reason: message}
	}
	return &types.SystemError{Reason: message}
}

// labLocalizedMessage is the sentence vCenter puts next to a task's fault.
func labLocalizedMessage(fault types.BaseMethodFault) string {
	switch f := fault.(type) {
	case *types.InvalidPowerState:
		return "The attempted operation cannot be performed in the current state (" + labPowerWords(f.ExistingState) + ")."
	case *types.GenericVmConfigFault:
		return f.Reason
	case *types.SystemError:
		return "A general system error occurred: " + f.Reason
	case *types.FileLocked:
		return "Unable to access file " + f.File + " since it is locked"
	case types.BaseFileFault:
		return "Error caused by file " + f.GetFileFault().File
	case *types.TaskInProgress:
		return "The operation is not allowed in the current state because the virtual machine has a task in progress."
	case *types.InvalidState:
		return "The operation is not allowed in the current state."
	case *types.ToolsUnavailable:
		return "Cannot complete operation because VMware Tools is not running in this virtual machine."
	case *types.RequestCanceled:
		return "The task was canceled by a user."
	case *types.InvalidDeviceBacking:
		return "Incompatible device backing specified for device '0'."
	}
	return labFaultMessage(fault)
}

func labPowerWords(state types.VirtualMachinePowerState) string {
	switch state {
	case types.VirtualMachinePowerStatePoweredOn:
		return "Powered on"
	case types.VirtualMachinePowerStatePoweredOff:
		return "Powered off"
	case types.VirtualMachinePowerStateSuspended:
		return "Suspended"
	}
	return string(state)
}
