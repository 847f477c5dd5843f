// Package devserver holds the settings the local stack (make run, make bench) gives the pinned
// Temporal dev server (temporal server start-dev), so that both run the same server.
package devserver

// Tuning are the start-dev flags beyond address, ports and database file.
//
//   - SQLite in WAL mode with synchronous=NORMAL: by default the dev server's database file is in
//     rollback-journal mode with synchronous=FULL, so each of Temporal's many small transactions
//     waits for several fsyncs, on the one connection the server allows SQLite. That commit path,
//     not the CPU, bounded a burst of 200 provisions (make bench, figure 5: p99 17–19 s with the
//     default journal against about 9 s in WAL mode). WAL with synchronous=NORMAL can lose the
//     last transactions on a power cut (never on a crash of the process), which is acceptable for
//     a local stack; a production Temporal has its own persistence.
//   - Eager activity execution (system.enableActivityEagerExecution): the server hands an
//     activity scheduled by a workflow task back in the answer to that task when the worker has
//     a free slot, instead of through the matching service. Off by default in the server; on in
//     Temporal Cloud. Workers request it by default.
var Tuning = []string{
	"--sqlite-pragma", "journal_mode=wal",
	"--sqlite-pragma", "synchronous=normal",
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
}
