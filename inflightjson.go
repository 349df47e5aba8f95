package distcron

import (
	"encoding/json"
	"strconv"
	"time"
)

// The value of an in-flight key is JSON, read with encoding/json. It is
// written on the hot path (every claim batch, and every rewrite as its runs
// end), where encoding/json's reflection was 5% of an instance's CPU at
// 20,000 fires/s. appendJSON writes the very bytes json.Marshal writes (a
// test holds it to that), without reflection.

// jsonSizeHint is about the size of an in-flight value of n runs.
func jsonSizeHint(n int) int { return 128 + 128*n }

// appendJSON appends v as json.Marshal encodes it.
func (v *inflightValue) appendJSON(b []byte) []byte {
	b = append(b, `{"instance":`...)
	b = appendJSONString(b, v.Instance)
	b = append(b, `,"claim":`...)
	b = appendJSONString(b, v.Claim)
	b = append(b, `,"claimed":`...)
	b = appendJSONTime(b, v.Claimed)
	if v.Checked {
		b = append(b, `,"checked":true`...)
	}
	b = append(b, `,"runs":`...)
	if v.Runs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range v.Runs {
			if i > 0 {
				b = append(b, ',')
			}
			b = v.Runs[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSON appends e as json.Marshal encodes it.
func (e *inflightRun) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	if e.Token != 0 {
		b = append(b, `,"token":`...)
		b = strconv.AppendInt(b, e.Token, 10)
	}
	b = append(b, `,"tick":`...)
	b = appendJSONTime(b, e.Tick)
	if e.Shard != 0 {
		b = append(b, `,"shard":`...)
		b = strconv.AppendInt(b, int64(e.Shard), 10)
	}
	if e.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, e.Unit)
	}
	if e.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(e.Attempt), 10)
	}
	b = append(b, `,"trigger":`...)
	b = appendJSONString(b, string(e.Trigger))
	if e.Run != "" {
		b = append(b, `,"run":`...)
		b = appendJSONString(b, e.Run)
	}
	if e.RerunLost {
		b = append(b, `,"rerun_lost":true`...)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as json.Marshal quotes it: printable
// ASCII other than '"', '\\' and the HTML characters is copied, and any
// string holding something else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds); a year outside 0-9999, which MarshalJSON refuses, is left
// to encoding/json as well.
func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		q, _ := json.Marshal(t)
		return append(b, q...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
