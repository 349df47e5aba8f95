package mongosink

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// Server error codes that say a document can never be inserted as it is.
const (
	codeBadValue                  = 2     // e.g. "object to insert too large"
	codeDocumentValidationFailure = 121   // the collection's validator refuses it
	codeBSONObjectTooLarge        = 10334 // beyond the 16 MiB document limit
	codeKeyTooLong                = 17280 // an index key beyond 1 KiB (MongoDB before 4.2)
)

// permanent reports whether err, from inserting a batch, is about the
// documents rather than the server's availability, so that inserting them
// again would fail the same way: the driver found a document too large to
// send, or every write error is a duplicate key or one of the codes above,
// with no write concern error.
func permanent(err error) bool {
	if errors.Is(err, driver.ErrDocumentTooLarge) {
		return true
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		switch we.Code {
		case codeDuplicateKey, codeBadValue, codeDocumentValidationFailure, codeBSONObjectTooLarge, codeKeyTooLong:
		default:
			return false
		}
	}
	return true
}
