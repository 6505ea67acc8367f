package cluster

// StopConsumer stops the node's ordered consumer as a lost server can
// leave it: waiting for good, with nothing more delivered.
func (n *Node) StopConsumer() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cons.Stop()
}
