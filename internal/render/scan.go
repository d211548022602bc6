package render

import (
	"strconv"
	"time"

	"github.com/portkit/ports/scan/report"
)

// ScanResultV1 is one port of one host in `ports scan --format json|jsonl`
// and in its -oJ file: the scan/report package's Port, whose JSON form
// is versioned there.
type ScanResultV1 = report.Port

// ScanVersionHeader is the column -sV adds to a scan table.
const ScanVersionHeader = "\tVERSION"

// AppendScanVersion appends the VERSION column: a tab, product, version
// and info, or "-".
func AppendScanVersion(b []byte, r ScanResultV1) []byte {
	b = append(b, '\t')
	n := len(b)
	for _, f := range []string{r.Product, r.Version} {
		if f != "" {
			if len(b) > n {
				b = append(b, ' ')
			}
			b = append(b, f...)
		}
	}
	if r.Info != "" {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = append(b, r.Info...)
		b = append(b, ')')
	}
	if len(b) == n {
		b = append(b, '-')
	}
	return b
}

// ScanHeader is the header row of a scan table.
const ScanHeader = "PORT\tSTATE\tSERVICE\tREASON\tRTT"

// AppendScanRow appends r as a tab-separated table row, without a newline.
func AppendScanRow(b []byte, r ScanResultV1) []byte {
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, '/')
	b = append(b, r.Proto...)
	b = append(b, '\t')
	b = append(b, r.State...)
	b = append(b, '\t')
	if r.Service == "" {
		b = append(b, '-')
	} else {
		b = append(b, r.Service...)
	}
	b = append(b, '\t')
	b = append(b, r.Reason...)
	b = append(b, '\t')
	return AppendRTT(b, r.RTTms)
}

// AppendRTT appends a round-trip time in milliseconds for people: "0.12ms",
// "35ms", "1.20s", or "-" for none.
func AppendRTT(b []byte, ms float64) []byte {
	switch {
	case ms <= 0:
		return append(b, '-')
	case ms < 10:
		return append(strconv.AppendFloat(b, ms, 'f', 2, 64), "ms"...)
	case ms < 1000:
		return append(strconv.AppendFloat(b, ms, 'f', 0, 64), "ms"...)
	}
	return append(strconv.AppendFloat(b, ms/1000, 'f', 2, 64), 's')
}

// Millis converts a duration to fractional milliseconds, rounded to the
// microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
