package sqlsink

import (
	"errors"
	"strings"
)

// permanent reports whether err, from writing a batch, is about the
// records rather than the database's availability, so that writing them
// again would fail the same way:
//
//   - PostgreSQL: a data exception (SQLSTATE class 22), a NOT NULL or CHECK
//     violation (23502, 23514) or an exceeded program limit (class 54),
//     from drivers whose errors have a SQLState() string method (pgx,
//     lib/pq);
//   - SQLite: SQLITE_TOOBIG or SQLITE_CONSTRAINT (a CHECK, NOT NULL or a
//     trigger's RAISE(ABORT)), from drivers whose errors have a Code() int
//     method (modernc.org/sqlite).
//
// MySQL errors are never permanent: INSERT IGNORE turns data errors into
// warnings, and a statement beyond max_allowed_packet may surface as a
// reset connection, indistinguishable from an outage.
func (d Dialect) permanent(err error) bool {
	switch d {
	case Postgres:
		var e interface{ SQLState() string }
		if !errors.As(err, &e) {
			return false
		}
		code := e.SQLState()
		return strings.HasPrefix(code, "22") || strings.HasPrefix(code, "54") || code == "23502" || code == "23514"
	case SQLite:
		var e interface{ Code() int }
		if !errors.As(err, &e) {
			return false
		}
		const tooBig, constraint = 18, 19
		primary := e.Code() & 0xff // extended codes keep the primary one in the low byte
		return primary == tooBig || primary == constraint
	}
	return false
}
