package hub

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// The HTTP API's cluster side: the same routes and answers as a single
// node's, with cluster-wide figures and 503 while this node cannot store.

// storeTimeout bounds a publish's wait for the store's acknowledgement.
const storeTimeout = 5 * time.Second

// handlePublishCluster answers 200 only once the message is stored (the
// store acknowledged it on a quorum of its replicas).
func (h *Hub) handlePublishCluster(w http.ResponseWriter, r *http.Request, name string, body []byte, binary bool) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	seq, _, err := h.PublishErr(ctx, name, body, binary)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "not stored: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": name, "seq": seq, "stored": true, "node": h.cs.cl.Node()})
}

// sendRoomCluster relays a room send to every node; it returns this node's
// members of the room (each node counts its own).
func (h *Hub) sendRoomCluster(name string, body []byte, binary bool) (int, error) {
	if err := h.Relay(Relayed{Channel: "room", Room: name, Body: body, Binary: binary}); err != nil {
		return 0, err
	}
	h.roomSends.Add(1)
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	if r := h.rooms[name]; r != nil {
		return len(r.members), nil
	}
	return 0, nil
}

// handleUserCluster answers /users/{user}: the stored state and every
// node's connections of the user.
func (h *Hub) handleUserCluster(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	ctx, cancel := context.WithTimeout(r.Context(), loadTimeout)
	defer cancel()
	info := UserInfo{User: name, First: 1, Nodes: map[string]int{}}
	if validName(name) {
		st, err := h.cs.cl.Load(ctx, name, 0, false)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "user state not readable: "+err.Error())
			return
		}
		info.Seq, info.First, info.Unread = st.Last, st.First, int64(unreadOf(st.Last, st.Read))
	}
	gctx, gcancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer gcancel()
	for _, ni := range h.cs.cl.Gather(gctx, name) {
		info.Nodes[ni.Node] = ni.Online
		info.Online += ni.Online
	}
	writeJSON(w, http.StatusOK, info)
}

// ClusterStats is the "cluster" part of /stats on a node of a cluster.
type ClusterStats struct {
	Node        string     `json:"node"`
	Nodes       []NodeInfo `json:"nodes"` // every node that answered, by name
	Connections int64      `json:"hub_connections_total"`
	UsersOnline int64      `json:"users_online_total"` // summed over nodes: a user on two nodes counts twice
	Relayed     int64      `json:"relayed"`            // relayed messages this node handled
	LoadFails   int64      `json:"load_failures"`      // connections closed 1013: their state could not be read
}

func (h *Hub) handleStatsCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	cs := ClusterStats{Node: h.cs.cl.Node(), Relayed: h.cs.relayed.Load(), LoadFails: h.cs.loadFail.Load()}
	cs.Nodes = h.cs.cl.Gather(ctx, "")
	sort.Slice(cs.Nodes, func(i, j int) bool { return cs.Nodes[i].Node < cs.Nodes[j].Node })
	for _, ni := range cs.Nodes {
		cs.Connections += ni.Connections
		cs.UsersOnline += ni.UsersOnline
	}
	type stats struct {
		Counts
		Server  any          `json:"server"`
		Cluster ClusterStats `json:"cluster"`
	}
	writeJSON(w, http.StatusOK, stats{h.Counts(), h.srv.Stats(), cs})
}

// handleHealthCluster answers /healthz with the node's view of the
// cluster: 200 while it can store, 503 while it cannot.
func (h *Hub) handleHealthCluster(w http.ResponseWriter) {
	status, code := "ok", http.StatusOK
	if !h.cs.cl.Ready() {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "uptime_s": int(time.Since(h.start).Seconds()),
		"node": h.cs.cl.Node(), "cluster": h.cs.cl.Health()})
}

// handlePollCluster is /poll/{user} in a cluster: the kept messages after
// since from the store; with a wait and none, the first that arrives.
func (h *Hub) handlePollCluster(w http.ResponseWriter, r *http.Request, name string, since uint64, wait time.Duration) {
	// A page served by one node may poll another (wsd.js's fallback).
	w.Header().Set("Access-Control-Allow-Origin", "*")
	// Wait for Deliver from before the read: a message stored after it
	// wakes us (the entry stays while it has waiters).
	u, mu := h.lockUser(name)
	ch := u.addWaiter(&h.pollsWaiting)
	mu.Unlock()
	defer func() {
		mu.Lock()
		u.dropWaiter(&h.pollsWaiting, ch)
		mu.Unlock()
		h.dropIfEmpty(u)
	}()
	ctx, cancel := context.WithTimeout(r.Context(), loadTimeout+wait)
	defer cancel()
	st, err := h.cs.cl.Load(ctx, name, since, true)
	if err == nil && len(st.Messages) == 0 && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ch:
			st, err = h.cs.cl.Load(ctx, name, since, true)
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "user state not readable: "+err.Error())
		return
	}
	unread := int64(unreadOf(st.Last, st.Read))
	b := make([]byte, 0, 256)
	b = append(b, `{"user":`...)
	b = appendString(b, name)
	b = appendUint(b, `,"seq":`, st.Last)
	b = appendUint(b, `,"first":`, st.First)
	b = appendInt(b, `,"unread":`, unread)
	b = strconv.AppendBool(append(b, `,"gap":`...), since+1 < st.First && since < st.Last)
	b = append(b, `,"messages":[`...)
	n := 0
	for _, sm := range st.Messages {
		if sm.Seq <= since {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = Message{Seq: sm.Seq, Unread: unread, Time: time.Unix(0, sm.At), Body: sm.Body, Binary: sm.Binary}.AppendJSON(b)
		n++
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}
