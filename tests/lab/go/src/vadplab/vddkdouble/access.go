package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// setAccess does what vCenter does for PrepareForAccess (prepare) and EndAccess: RelocateVM_Task
// of the VM is disabled, or enabled again. vCenter's own call is internal API; the lab offers
// POST /lab/access on the same server (login has already checked its thumbprint).
func setAccess(params connectParams, prepare bool) error {
	port := params.Port
	if port == 0 {
		port = 443
	}
	body, _ := json.Marshal(map[string]interface{}{"vm": strings.TrimPrefix(params.VmxSpec, "moref="), "prepare": prepare})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the thumbprint was checked at login
	url := "https://" + net.JoinHostPort(params.ServerName, strconv.Itoa(int(port))) + "/lab/access"
	response, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return fail(vixCannotConnect, "PrepareForAccess/EndAccess could not reach %s: %v", url, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fail(vixFail, "PrepareForAccess/EndAccess for %s was refused (HTTP %d)", params.VmxSpec, response.StatusCode)
	}
	return nil
}
