package sqlsink

import "errors"

// ErrInvalidOption is returned, wrapped with the offending value, by [New]
// when the database is nil, the dialect unknown or an option out of range.
var ErrInvalidOption = errors.New("distcron: invalid sql sink option")
