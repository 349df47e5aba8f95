package mongosink

import "errors"

// ErrInvalidOption is returned, wrapped with the offending value, by [New]
// when the collection is nil or an option is out of range.
var ErrInvalidOption = errors.New("distcron: invalid mongo sink option")
