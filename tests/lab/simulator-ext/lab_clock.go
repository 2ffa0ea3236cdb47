// Lab extension: a vCenter whose clock is off by a chosen offset (ServiceInstance.CurrentTime),
// set through POST /lab/faults {"clock_offset_seconds": N}, for the preflight's clock check.
package simulator

import (
	"sync/atomic"
	"time"
)

var labClockOffsetNanos int64

// LabSetClockOffset makes vCenter's clock run this many seconds ahead (negative: behind).
func LabSetClockOffset(seconds float64) {
	atomic.StoreInt64(&labClockOffsetNanos, int64(seconds*float64(time.Second)))
}

func labClockOffset() time.Duration {
	return time.Duration(atomic.LoadInt64(&labClockOffsetNanos))
}
