// Package cluster joins wsd nodes into one service over NATS: user messages
// are stored in a JetStream stream (durable, replicated, one subject per
// user, the last -history messages of each kept), every node follows the
// stream with one ordered consumer and writes each message to its own
// connections of that user; read markers live in a JetStream key-value
// bucket; broadcasts, room sends and other relayed messages travel on core
// NATS subjects, once per node; cluster-wide figures are gathered by
// request/reply.
//
// NATS is either embedded (a nats-server in the process, its routes joining
// the other nodes': no other program to run) or an existing NATS cluster
// with JetStream (-nats). We build on it rather than on a replication
// protocol of our own: its Raft-replicated streams, consumer recovery and
// route meshes are tested far beyond what we could test here.
//
// The hub uses a Node through hub.Cluster; a hub without one is the single
// in-memory node, untouched by anything here.
package cluster
