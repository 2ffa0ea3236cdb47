package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
)

// hotAdded is what VDDK's HotAdd transport leaves attached to the backup proxy: each disk a HotAdd
// Open attached, until its Close detaches it. A process killed in between leaves it attached
// until VixDiskLib_Cleanup releases it, as on a real proxy. The double reports here.
var hotAdded = struct {
	sync.Mutex
	disks map[string]map[string]bool // VM moref -> disk paths
}{disks: map[string]map[string]bool{}}

type hotAddRequest struct {
	VM      string `json:"vm"`
	Disk    string `json:"disk"`
	Attach  bool   `json:"attach"`
	Cleanup bool   `json:"cleanup"`
}

// serveHotAdd: GET lists what is attached; POST {"vm", "disk", "attach"} attaches or detaches
// one disk; POST {"cleanup": true} releases everything and says how much (Cleanup's answer).
func serveHotAdd(w http.ResponseWriter, r *http.Request) {
	hotAdded.Lock()
	defer hotAdded.Unlock()
	if r.Method == http.MethodPost {
		var req hotAddRequest
		if json.NewDecoder(r.Body).Decode(&req) != nil || (!req.Cleanup && (req.VM == "" || req.Disk == "")) {
			http.Error(w, "expected POST of JSON {\"vm\", \"disk\", \"attach\"} or {\"cleanup\": true}", http.StatusBadRequest)
			return
		}
		if req.Cleanup {
			cleaned := 0
			for _, disks := range hotAdded.disks {
				cleaned += len(disks)
			}
			hotAdded.disks = map[string]map[string]bool{}
			serveJSON(w)(map[string]int{"cleaned": cleaned, "remaining": 0}, nil)
			return
		}
		if req.Attach {
			if hotAdded.disks[req.VM] == nil {
				hotAdded.disks[req.VM] = map[string]bool{}
			}
			hotAdded.disks[req.VM][req.Disk] = true
		} else {
			delete(hotAdded.disks[req.VM], req.Disk)
			if len(hotAdded.disks[req.VM]) == 0 {
				delete(hotAdded.disks, req.VM)
			}
		}
	}
	listed := map[string][]string{}
	for vm, disks := range hotAdded.disks {
		for disk := range disks {
			listed[vm] = append(listed[vm], disk)
		}
		sort.Strings(listed[vm])
	}
	serveJSON(w)(map[string]interface{}{"attached": listed}, nil)
}
