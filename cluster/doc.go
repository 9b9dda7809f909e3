// Package cluster is hubd's event log on NATS JetStream: the one order of
// events that every node of a cluster shares.
//
// Each node opens a Log on the same stream (Open), appends the events it
// is given (Append: one stream message per event, however many topics it
// names, acknowledged once JetStream stored it), and follows the stream
// (Follow), applying every event, its own included, in stream order. The
// stream sequence is the event's sequence number, and Epoch names the
// stream's life, so an event ID "EPOCH-SEQ" means the same on every node
// and after a restart. Events older than a node keeps in memory are read
// back with Read; State says which sequences the stream still holds.
//
// With Config.URLs set to Embedded, the Log runs its own NATS server with
// JetStream storing in Config.DataDir: one node whose acknowledged events
// survive a crash, with nothing to install.
//
// Open checks the stream against what this node last recorded of it (a
// file beside the embedded server's store) and what JetStream reports;
// when events were lost it logs them at ERROR, counts them (Stats.Lost,
// Damage) and gives the stream a new generation, kept in the stream's
// metadata, and so a new Epoch: no ID handed out before names another
// event. Config.OnDamage DamageRefuse makes Open fail with ErrDamaged
// instead. Config.SyncInterval and SyncAlways set how the embedded server
// syncs to disk.
//
// What is stored, and where, is described by Message (the payload, with
// a format version header) and TopicToken (the subjects).
//
// Log is a hub.EventLog: the hub declares the small interface it needs
// (append, follow, read, state, epoch) and the types it passes, which this
// package takes as its own (Message, Entry, State, Stats), so that another
// engine (Redis Streams, say) could take its place without touching the
// hub. ErrUnavailable wraps hub.ErrLogUnavailable.
package cluster
