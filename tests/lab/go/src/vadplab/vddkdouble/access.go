package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// requirePrivilege fails as VDDK does (VIX_E_HOST_USER_PERMISSIONS) when vCenter says the
// connection's user lacks privilege on entity: VDDK's guide lists what each step needs
// (docs/vsphere-rules.md, "Privileges").
func requirePrivilege(client *vim25.Client, entity types.ManagedObjectReference, privilege, step string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	current, err := session.NewManager(client).UserSession(ctx)
	if err != nil || current == nil {
		return fail(vixAuthenticationFail, "%s: no session to check privileges with: %v", step, err)
	}
	answer, err := methods.HasPrivilegeOnEntity(ctx, client, &types.HasPrivilegeOnEntity{
		This: *client.ServiceContent.AuthorizationManager, Entity: entity, SessionId: current.Key, PrivId: []string{privilege}})
	if err != nil {
		return fail(vixFail, "%s: the privilege check failed: %v", step, err)
	}
	if len(answer.Returnval) != 1 || !answer.Returnval[0] {
		return fail(vixHostUserPermission, "%s: the user %s lacks the privilege %s on %s %s", step, current.UserName,
			privilege, entity.Type, entity.Value)
	}
	return nil
}

// setAccess does what vCenter does for PrepareForAccess (prepare) and EndAccess: RelocateVM_Task
// of the VM is disabled, or enabled again. vCenter's own call is internal API; the lab offers
// POST /lab/access on the same server (login has already checked its thumbprint).
func setAccess(params connectParams, prepare bool) error {
	_, err := labPost(params, "/lab/access", map[string]interface{}{
		"vm": strings.TrimPrefix(params.VmxSpec, "moref="), "prepare": prepare})
	return err
}

// setHotAdd tells the lab that a HotAdd Open attached a disk to the proxy, or that Close
// detached it; cleanupHotAdd is VixDiskLib_Cleanup: leftovers of killed processes released.
func setHotAdd(params connectParams, disk string, attach bool) error {
	_, err := labPost(params, "/lab/hotadd", map[string]interface{}{
		"vm": strings.TrimPrefix(params.VmxSpec, "moref="), "disk": disk, "attach": attach})
	return err
}

func cleanupHotAdd(params connectParams) (cleaned, remaining uint32, err error) {
	answer, err := labPost(params, "/lab/hotadd", map[string]interface{}{"cleanup": true})
	if err != nil {
		return 0, 0, err
	}
	return uint32(answer["cleaned"].(float64)), uint32(answer["remaining"].(float64)), nil
}

// labPost is a call to the lab's control endpoint on the same server (vCenter's own calls for
// these are internal API).
func labPost(params connectParams, path string, body map[string]interface{}) (map[string]interface{}, error) {
	data, _ := json.Marshal(body)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the lab's own endpoint
	url := "https://" + serverAddress(params) + path
	response, err := client.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return nil, fail(vixCannotConnect, "%s could not be reached: %v", url, err)
	}
	defer response.Body.Close()
	var answer map[string]interface{}
	if response.StatusCode != http.StatusOK || json.NewDecoder(response.Body).Decode(&answer) != nil {
		return nil, fail(vixFail, "%s refused %v (HTTP %d)", url, body, response.StatusCode)
	}
	return answer, nil
}
