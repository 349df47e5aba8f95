package distcron

import (
	"context"
	"testing"
	"time"
)

func TestRunGroupWaitsForRunsAddedWhileWaiting(t *testing.T) {
	var g runGroup
	if !g.wait(context.Background()) {
		t.Fatal("an empty group should not block")
	}
	if !g.add() {
		t.Fatal("add to an open group")
	}
	done := make(chan bool)
	go func() { done <- g.wait(context.Background()) }()
	if !g.add() { // a second run starts while Stop waits: allowed until close
		t.Fatal("add while waiting")
	}
	g.done()
	select {
	case <-done:
		t.Fatal("wait returned with a run still in progress")
	case <-time.After(50 * time.Millisecond):
	}
	g.done()
	if !<-done {
		t.Fatal("wait should report the runs ended")
	}
	g.close()
	if g.add() {
		t.Fatal("add after close")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !g.wait(ctx) {
		t.Fatal("a closed, empty group is idle")
	}
}

func TestRunGroupWaitEndsWithItsContext(t *testing.T) {
	var g runGroup
	g.add()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if g.wait(ctx) {
		t.Fatal("wait reported idle with a run in progress")
	}
}
