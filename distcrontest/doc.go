// Package distcrontest helps you test code that schedules jobs with
// distcron: a real etcd for a test ([Etcd]), a clock the test moves by
// hand ([NewClock]), and a clock that runs ahead or behind
// ([SkewedClock]). With them a unit test can start several schedulers
// against one etcd, as replicas of a service would run, step the clock to
// each tick, and assert that every job fires at the instants the test
// expects, once across all instances.
//
// It is its own module (github.com/distcron/distcron/distcrontest),
// because Etcd embeds the etcd server: import it from tests only, and the
// server stays out of the module graph of code that imports distcron
// alone.
package distcrontest
