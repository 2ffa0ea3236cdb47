package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// labControl counts the SOAP traffic and injects session faults that tests arm through
// POST /lab/faults, so a test can drop every session in the middle of a module run, as a vCenter
// restart or an administrator's "terminate session" does.
type labControl struct {
	mu                 sync.Mutex
	next               http.Handler
	sessions           map[string]bool // session cookies seen since the last termination
	soapCalls          int
	logins             int
	terminateAfter     int // terminate all sessions before the Nth SOAP call from now; 0 = off
	sessionsTerminated int
	changes            []string // the calls that change vCenter's state, in order (check mode must make none)
}

// soapMethod is the first element in a SOAP body: the method called.
var soapMethod = regexp.MustCompile(`<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)`)

// changingMethods are the state-changing vSphere methods that are not tasks (every *_Task changes).
var changingMethods = map[string]bool{"AnswerVM": true, "MakeDirectory": true, "RenameSnapshot": true,
	"SetCustomValue": true, "SetField": true, "MarkAsTemplate": true, "DeleteFile": true, "AddAuthorizationRole": true,
	"UpdateAuthorizationRole": true, "RemoveAuthorizationRole": true, "SetEntityPermissions": true,
	"RemoveEntityPermission": true}

type faultRequest struct {
	TerminateSessionsAfterCalls int                                 `json:"terminate_sessions_after_calls"`
	CBTPageExtents              *int                                `json:"cbt_page_extents"`
	Tasks                       []*simulator.LabTaskRule            `json:"tasks"`
	GuestSeconds                *float64                            `json:"guest_seconds"`
	ClockOffsetSeconds          *float64                            `json:"clock_offset_seconds"`
	Hosts                       map[string]simulator.LabHostOptions `json:"hosts"`
	VMs                         map[string]simulator.LabVMOptions   `json:"vms"`
	ThisMachine                 *string                             `json:"this_machine"` // a VM's name; "": no VM
}

type guestWriteRequest struct {
	VM        string `json:"vm"`
	DeviceKey int32  `json:"device_key"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	Seed      int64  `json:"seed"`
	Source    string `json:"source"`  // a local file whose bytes the guest writes, instead of seeded random data
	Pattern   string `json:"pattern"` // "text": seeded log lines (compressible, as most guest writes are), not random bytes
}

func wrapHandler(server *simulator.Server) *labControl {
	c := &labControl{next: server.Config.Handler, sessions: map[string]bool{}}
	server.Config.Handler = c
	return c
}

func (c *labControl) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/folder/") {
		cookie, err := r.Cookie(soap.SessionCookieName)
		if err != nil || !simulator.LabSessionValid(cookie.Value) {
			http.Error(w, "401 Unauthorized: datastore file access needs a vSphere session cookie", http.StatusUnauthorized)
			return
		}
		if missing := folderPrivilegeMissing(cookie.Value, r.URL.Query().Get("dsName")); missing != "" {
			http.Error(w, "403 Forbidden: "+missing, http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.mu.Lock()
			c.changes = append(c.changes, r.Method+" "+r.URL.Path)
			c.mu.Unlock()
		}
	}
	switch r.URL.Path {
	case "/lab/faults":
		c.serveFaults(w, r)
		return
	case "/lab/stats":
		c.serveStats(w)
		return
	case "/lab/guest-write":
		serveGuestWrite(w, r)
		return
	case "/lab/access":
		serveAccess(w, r)
		return
	case "/lab/this-machine":
		serveJSON(w)(simulator.LabThisMachine(), nil)
		return
	case "/lab/hotadd":
		serveHotAdd(w, r)
		return
	case "/lab/users":
		serveUsers(w, r)
		return
	case "/lab/inspect":
		serveJSON(w)(simulator.LabInspect(r.URL.Query().Get("vm")))
		return
	case "/sdk":
		if r.Method == http.MethodPost {
			c.observeSOAP(r)
		}
	}
	c.next.ServeHTTP(w, r)
}

func (c *labControl) observeSOAP(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))

	c.mu.Lock()
	defer c.mu.Unlock()
	c.soapCalls++
	if m := soapMethod.FindSubmatch(body); m != nil {
		if method := string(m[1]); strings.HasSuffix(method, "_Task") || changingMethods[method] {
			c.changes = append(c.changes, method)
		}
	}
	if bytes.Contains(body, []byte("<Login ")) || bytes.Contains(body, []byte("<Login>")) {
		c.logins++
	}
	if cookie, err := r.Cookie(soap.SessionCookieName); err == nil {
		c.sessions[cookie.Value] = true
	}
	if c.terminateAfter > 0 {
		c.terminateAfter--
		if c.terminateAfter == 0 {
			c.terminateSessionsLocked()
		}
	}
}

// terminateSessionsLocked ends every session seen through the simulator's own TerminateSession,
// so the next call on any of them fails with NotAuthenticated exactly as on vCenter.
func (c *labControl) terminateSessionsLocked() {
	sm := simulator.Map.SessionManager()
	caller := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{Key: "lab-control"}}}
	for key := range c.sessions {
		res := sm.TerminateSession(caller, &types.TerminateSession{SessionId: []string{key}})
		if res.Fault() == nil {
			c.sessionsTerminated++
		}
	}
	c.sessions = map[string]bool{}
}

func (c *labControl) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var req faultRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.TerminateSessionsAfterCalls < 0 {
		http.Error(w, "expected JSON {\"terminate_sessions_after_calls\": N, \"cbt_page_extents\": N}", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.terminateAfter = req.TerminateSessionsAfterCalls
	if req.CBTPageExtents != nil {
		simulator.LabCBTPageExtents = *req.CBTPageExtents
	}
	if req.Tasks != nil {
		simulator.LabSetTaskRules(req.Tasks)
	}
	if req.GuestSeconds != nil {
		simulator.LabGuestSeconds = *req.GuestSeconds
	}
	if req.ClockOffsetSeconds != nil {
		simulator.LabSetClockOffset(*req.ClockOffsetSeconds)
	}
	c.mu.Unlock()
	for host, options := range req.Hosts {
		if err := simulator.LabConfigureHost(host, options); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
	}
	if req.ThisMachine != nil {
		if err := simulator.LabSetThisMachine(*req.ThisMachine); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
	}
	for vm, options := range req.VMs {
		if err := simulator.LabConfigureVM(vm, options); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
	}
	c.serveStats(w)
}

func (c *labControl) serveStats(w http.ResponseWriter) {
	c.mu.Lock()
	stats := map[string]interface{}{
		"soap_calls":          c.soapCalls,
		"logins":              c.logins,
		"sessions_terminated": c.sessionsTerminated,
		"terminate_after":     c.terminateAfter,
		"cbt_page_extents":    simulator.LabCBTPageExtents,
		"changes":             append([]string{}, c.changes...),
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(stats)
}

func serveGuestWrite(w http.ResponseWriter, r *http.Request) {
	var req guestWriteRequest
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.VM == "" ||
		(req.Length <= 0) == (req.Source == "") {
		http.Error(w, "expected POST of JSON {\"vm\": NAME, \"offset\": N, \"length\": N, \"seed\": N, \"device_key\": K} "+
			"or {\"vm\": NAME, \"offset\": N, \"source\": LOCAL_FILE, \"device_key\": K}", http.StatusBadRequest)
		return
	}
	data := make([]byte, req.Length)
	if req.Source != "" {
		var err error
		if data, err = os.ReadFile(req.Source); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	} else if req.Pattern == "text" {
		fillWithLogLines(data, req.Seed)
	} else {
		rand.New(rand.NewSource(req.Seed)).Read(data)
	}
	serveJSON(w)(simulator.LabGuestWrite(req.VM, req.DeviceKey, req.Offset, data))
}

// fillWithLogLines fills data with lines such as a service's log holds: what normal guest activity
// mostly writes, and compresses as it does (zstd stores it at a fifth of its size or less).
func fillWithLogLines(data []byte, seed int64) {
	random := rand.New(rand.NewSource(seed))
	levels := []string{"INFO", "INFO", "INFO", "WARN", "DEBUG"}
	var lines bytes.Buffer
	for n := 0; lines.Len() < len(data); n++ {
		fmt.Fprintf(&lines, "2026-12-07T%02d:%02d:%02d.%03dZ %-5s worker-%d request %d served in %d ms for 10.0.%d.%d\n",
			n/3600%24, n/60%60, n%60, random.Intn(1000), levels[random.Intn(len(levels))], random.Intn(8), seed*1000000+int64(n),
			random.Intn(900), random.Intn(255), random.Intn(255))
	}
	copy(data, lines.Bytes())
}

// serveAccess is what the VDDK double calls for PrepareForAccess ({"prepare": true}) and EndAccess.
func serveAccess(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VM      string `json:"vm"`
		Prepare bool   `json:"prepare"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.VM == "" {
		http.Error(w, "expected POST of JSON {\"vm\": MOREF, \"prepare\": BOOL}", http.StatusBadRequest)
		return
	}
	serveJSON(w)(simulator.LabSetAccess(req.VM, req.Prepare))
}

// serveJSON answers with the value as JSON, or with the error as a 409 and {"error": text}.
func serveJSON(w http.ResponseWriter) func(interface{}, error) {
	return func(value interface{}, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			value = map[string]string{"error": err.Error()}
		}
		_ = json.NewEncoder(w).Encode(value)
	}
}

// folderPrivilegeMissing: vCenter's datastore file access needs Datastore.Browse and
// Datastore.FileManagement on the datastore ("Privilege Requirements for HTTP Access" of the
// vSphere Web Services SDK guide); the first one the session's user lacks, or "".
func folderPrivilegeMissing(sessionKey, datastore string) string {
	ds, ok := simulator.LabDatastoreNamed(datastore)
	if !ok {
		return "" // the stock handler answers 404
	}
	for _, privilege := range []string{"Datastore.Browse", "Datastore.FileManagement"} {
		if !simulator.LabHolds(sessionKey, ds, privilege) {
			return "the session's user lacks " + privilege + " on datastore " + datastore
		}
	}
	return ""
}

// serveUsers makes a vCenter user (POST {"name", "password"}) who holds nothing until a
// permission (AuthorizationManager.SetEntityPermissions) gives it a role.
func serveUsers(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.Name == "" || req.Password == "" {
		http.Error(w, "expected POST of JSON {\"name\": USER, \"password\": PASSWORD}", http.StatusBadRequest)
		return
	}
	simulator.LabAddUser(req.Name, req.Password)
	serveJSON(w)(map[string]string{"user": req.Name}, nil)
}
