// Package sink implements the entropyshare sink server.
//
// A Server checks each frame in the order PROTOCOL.md gives, stores the
// signer's new counter durably in the state file, one write for every
// batch of packets waiting together (group commit), and only then feeds
// the chunk to the pool; then it mixes the chunks it accepted into the
// boot seed, which FeedBootSeed feeds the kernel early at the next boot.
// It reads its configuration (LoadConfig) and never writes it. Status
// reads the stored counters and Decoder judges frame files as a Server
// would, both without changing anything.
package sink
