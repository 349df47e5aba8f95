package mongosink

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// Only errors about the documents themselves are permanent; anything that
// may be the server's state is not.
func TestPermanent(t *testing.T) {
	bulk := func(wce bool, codes ...int) error {
		e := mongo.BulkWriteException{}
		for i, c := range codes {
			e.WriteErrors = append(e.WriteErrors, mongo.BulkWriteError{WriteError: mongo.WriteError{Index: i, Code: c, Message: "x"}})
		}
		if wce {
			e.WriteConcernError = &mongo.WriteConcernError{Code: 64, Message: "waiting for replication timed out"}
		}
		return fmt.Errorf("mongosink: insert: %w", e)
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"document too large to send", fmt.Errorf("insert: %w", driver.ErrDocumentTooLarge), true},
		{"object to insert too large", bulk(false, codeBadValue), true},
		{"too large among duplicates", bulk(false, codeDuplicateKey, codeBSONObjectTooLarge, codeDuplicateKey), true},
		{"validator", bulk(false, codeDocumentValidationFailure), true},
		{"key too long", bulk(false, codeKeyTooLong), true},
		{"write concern error", bulk(true, codeBadValue), false},
		{"not writable primary in write errors", bulk(false, codeBadValue, 10107), false},
		{"no write errors", bulk(false), false},
		{"network", errors.New("connection reset by peer"), false},
		{"timeout", context.DeadlineExceeded, false},
		{"command error", mongo.CommandError{Code: codeBadValue, Message: "bad"}, false},
	}
	for _, tt := range tests {
		if got := permanent(tt.err); got != tt.want {
			t.Errorf("%s: permanent(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
