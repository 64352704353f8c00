package twopc

import (
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// PoolTaskDetails is TiKV's account of how its read pool scheduled the
// tasks that served some reads (kvrpcpb.PoolTaskDetails, sent in
// ExecDetailsV2.read_pool_task_details), summed over the responses merged
// into it (client-go's util.PoolTaskDetails). Each response describes one
// task: how often its future was polled, how often a worker picked it up
// (dispatched it), how long it waited in the ready queue and for a wake
// after a pending poll, what its polls cost, and, under the fair queue,
// how many other tasks' slices ran ahead of it.
//
// The zero value is empty. It is a plain value: a copy is independent of
// the original (client-go's Clone).
//
// Minima need care: a zero minimum may be a real sample (a poll that cost
// nothing measurable) or no sample at all. Each minimum therefore only
// counts once a sample of its kind exists; the presence rule of each is
// on its field.
type PoolTaskDetails struct {
	// Tasks is the number of tasks (responses) merged.
	Tasks uint64
	// Polls sums the tasks' future polls; MaxPolls and MinPolls are the
	// extremes over tasks (every task counts).
	Polls, MaxPolls, MinPolls uint64
	// Dispatches sums how often workers picked the tasks up; MaxDispatches
	// and MinDispatches are the extremes over tasks (every task counts).
	Dispatches, MaxDispatches, MinDispatches uint64
	// TaskWall sums the tasks' wall time. Only a task that reported a
	// non-zero wall time is a sample: TaskWallSamples counts them and
	// MaxTaskWall, MinTaskWall are their extremes.
	TaskWall                 time.Duration
	TaskWallSamples          uint64
	MaxTaskWall, MinTaskWall time.Duration
	// QueueWait sums the time the tasks' dispatches waited in the ready
	// queue, with the largest and smallest single wait; MinQueueWait
	// counts only tasks that waited at all.
	QueueWait, MaxQueueWait, MinQueueWait time.Duration
	// WakeWait sums the time from a pending poll to the task's next
	// dispatch, with the largest and smallest single wait; MinWakeWait
	// counts only tasks that waited at all.
	WakeWait, MaxWakeWait, MinWakeWait time.Duration
	// FairQueueSamples is the dispatches made under the fair queue (only
	// tasks that report it enabled count). FairQueueWaitedSlices sums the
	// task slices run ahead of those dispatches while they waited, with
	// the largest and smallest per dispatch.
	FairQueueSamples                                              uint64
	FairQueueWaitedSlices, MaxFairQueueWaited, MinFairQueueWaited uint64
	// PollCPU and PollWall sum the thread CPU and wall time of the polls,
	// with the largest and smallest single poll; the minima count only
	// tasks that were polled.
	PollCPU, MaxPollCPU, MinPollCPU    time.Duration
	PollWall, MaxPollWall, MinPollWall time.Duration
}

// MergePB adds one response's read-pool task details; nil adds nothing.
func (d *PoolTaskDetails) MergePB(pb *kvrpcpb.PoolTaskDetails) {
	if pb == nil {
		return
	}
	// One response is one task: fold it in as a one-task aggregate, so
	// merging responses one by one and merging aggregates agree.
	one := PoolTaskDetails{
		Tasks: 1,
		Polls: pb.PollCount, MaxPolls: pb.PollCount, MinPolls: pb.PollCount,
		Dispatches: pb.DispatchCount, MaxDispatches: pb.DispatchCount, MinDispatches: pb.DispatchCount,
		QueueWait:    time.Duration(pb.TotalQueueWaitNanos),
		MaxQueueWait: time.Duration(pb.MaxQueueWaitNanos),
		MinQueueWait: time.Duration(pb.MinQueueWaitNanos),
		WakeWait:     time.Duration(pb.TotalWakeWaitNanos),
		MaxWakeWait:  time.Duration(pb.MaxWakeWaitNanos),
		MinWakeWait:  time.Duration(pb.MinWakeWaitNanos),
		PollCPU:      time.Duration(pb.PollCpuNanos),
		MaxPollCPU:   time.Duration(pb.MaxPollCpuNanos),
		MinPollCPU:   time.Duration(pb.MinPollCpuNanos),
		PollWall:     time.Duration(pb.PollWallNanos),
		MaxPollWall:  time.Duration(pb.MaxPollWallNanos),
		MinPollWall:  time.Duration(pb.MinPollWallNanos),
	}
	if w := time.Duration(pb.TotalWallNanos); w > 0 {
		one.TaskWall, one.TaskWallSamples, one.MaxTaskWall, one.MinTaskWall = w, 1, w, w
	}
	// A task that ran outside the fair queue says nothing about it, even
	// if it sends slice counts.
	if pb.FairQueueEnabled {
		one.FairQueueSamples = pb.DispatchCount
		one.FairQueueWaitedSlices = pb.TotalFairQueueWaitedTaskSlices
		one.MaxFairQueueWaited = pb.MaxFairQueueWaitedTaskSlices
		one.MinFairQueueWaited = pb.MinFairQueueWaitedTaskSlices
	}
	d.Merge(one)
}

// Merge adds o into d: sums add, maxima take the larger, and each minimum
// takes the smaller of those sides that have a sample of its kind.
// Merging an empty o changes nothing.
func (d *PoolTaskDetails) Merge(o PoolTaskDetails) {
	if o.Empty() {
		return
	}
	// Which minima d already holds, judged before the sums change.
	dTasks, oTasks := d.Tasks > 0, true
	dWall, oWall := d.TaskWallSamples > 0, o.TaskWall > 0
	dQueue, oQueue := d.QueueWait > 0, o.QueueWait > 0
	dWake, oWake := d.WakeWait > 0, o.WakeWait > 0
	dFair, oFair := d.FairQueueSamples > 0, o.FairQueueSamples > 0
	dPoll, oPoll := d.Polls > 0, o.Polls > 0

	d.Tasks += o.Tasks
	d.Polls += o.Polls
	d.MaxPolls = max(d.MaxPolls, o.MaxPolls)
	d.MinPolls = minOfPresent(d.MinPolls, dTasks, o.MinPolls, oTasks)
	d.Dispatches += o.Dispatches
	d.MaxDispatches = max(d.MaxDispatches, o.MaxDispatches)
	d.MinDispatches = minOfPresent(d.MinDispatches, dTasks, o.MinDispatches, oTasks)
	d.TaskWall += o.TaskWall
	d.TaskWallSamples += o.TaskWallSamples
	d.MaxTaskWall = max(d.MaxTaskWall, o.MaxTaskWall)
	d.MinTaskWall = minOfPresent(d.MinTaskWall, dWall, o.MinTaskWall, oWall)
	d.QueueWait += o.QueueWait
	d.MaxQueueWait = max(d.MaxQueueWait, o.MaxQueueWait)
	d.MinQueueWait = minOfPresent(d.MinQueueWait, dQueue, o.MinQueueWait, oQueue)
	d.WakeWait += o.WakeWait
	d.MaxWakeWait = max(d.MaxWakeWait, o.MaxWakeWait)
	d.MinWakeWait = minOfPresent(d.MinWakeWait, dWake, o.MinWakeWait, oWake)
	d.FairQueueSamples += o.FairQueueSamples
	d.FairQueueWaitedSlices += o.FairQueueWaitedSlices
	d.MaxFairQueueWaited = max(d.MaxFairQueueWaited, o.MaxFairQueueWaited)
	d.MinFairQueueWaited = minOfPresent(d.MinFairQueueWaited, dFair, o.MinFairQueueWaited, oFair)
	d.PollCPU += o.PollCPU
	d.MaxPollCPU = max(d.MaxPollCPU, o.MaxPollCPU)
	d.MinPollCPU = minOfPresent(d.MinPollCPU, dPoll, o.MinPollCPU, oPoll)
	d.PollWall += o.PollWall
	d.MaxPollWall = max(d.MaxPollWall, o.MaxPollWall)
	d.MinPollWall = minOfPresent(d.MinPollWall, dPoll, o.MinPollWall, oPoll)
}

// minOfPresent is the smaller of a and b among those present; a when
// neither is.
func minOfPresent[T time.Duration | uint64](a T, hasA bool, b T, hasB bool) T {
	switch {
	case !hasB:
		return a
	case !hasA:
		return b
	default:
		return min(a, b)
	}
}

// Empty reports whether no task was merged.
func (d PoolTaskDetails) Empty() bool { return d.Tasks == 0 }

// String prints the details in client-go's shape, "{tasks:2,
// poll_count:{total:8, avg:4, max:5, min:3}, dispatch_count:{...},
// task_wall_time:{...}, queue_wait:{...}, wake_wait:{...},
// fair_queue:{enabled:true, waited_task_slices:{...}}, poll_cpu:{...},
// poll_wall:{...}}"; empty when no task was merged. Times that sum to
// zero are left out, counts never are; an average is printed only when
// its divisor is not zero. The averages divide by what each total is a
// sum over: polls per task, task wall time per sampled task, queue wait
// per dispatch, wake wait per re-dispatch (a task's first dispatch
// follows no pending poll), waited slices per fair-queue dispatch, poll
// CPU and wall per poll.
func (d PoolTaskDetails) String() string {
	if d.Empty() {
		return ""
	}
	var b strings.Builder
	b.WriteString("{tasks:" + strconv.FormatUint(d.Tasks, 10))
	writePoolCounts(&b, "poll_count", d.Polls, d.Tasks, d.MaxPolls, d.MinPolls)
	// Dispatches per task is not printed: client-go leaves it out.
	writePoolCounts(&b, "dispatch_count", d.Dispatches, 0, d.MaxDispatches, d.MinDispatches)
	writePoolTimes(&b, "task_wall_time", d.TaskWall, d.TaskWallSamples, d.MaxTaskWall, d.MinTaskWall)
	writePoolTimes(&b, "queue_wait", d.QueueWait, d.Dispatches, d.MaxQueueWait, d.MinQueueWait)
	var redispatches uint64
	if d.Dispatches > d.Tasks {
		redispatches = d.Dispatches - d.Tasks
	}
	writePoolTimes(&b, "wake_wait", d.WakeWait, redispatches, d.MaxWakeWait, d.MinWakeWait)
	b.WriteString(", fair_queue:{enabled:" + strconv.FormatBool(d.FairQueueSamples > 0))
	writePoolCounts(&b, "waited_task_slices", d.FairQueueWaitedSlices, d.FairQueueSamples, d.MaxFairQueueWaited, d.MinFairQueueWaited)
	b.WriteByte('}')
	writePoolTimes(&b, "poll_cpu", d.PollCPU, d.Polls, d.MaxPollCPU, d.MinPollCPU)
	writePoolTimes(&b, "poll_wall", d.PollWall, d.Polls, d.MaxPollWall, d.MinPollWall)
	b.WriteByte('}')
	return b.String()
}

// writePoolCounts writes ", name:{total:T, avg:A, max:X, min:N}", without
// the average when per is zero.
func writePoolCounts(b *strings.Builder, name string, total, per, hi, lo uint64) {
	b.WriteString(", " + name + ":{total:" + strconv.FormatUint(total, 10))
	if per > 0 {
		// Two decimals at most, trailing zeros dropped: 4, 1.5, 2.67.
		avg := strconv.FormatFloat(float64(total)/float64(per), 'f', 2, 64)
		avg = strings.TrimRight(strings.TrimRight(avg, "0"), ".")
		b.WriteString(", avg:" + avg)
	}
	b.WriteString(", max:" + strconv.FormatUint(hi, 10) + ", min:" + strconv.FormatUint(lo, 10) + "}")
}

// writePoolTimes writes ", name:{total:T, avg:A, max:X, min:N}" unless
// total is zero, without the average when per is zero.
func writePoolTimes(b *strings.Builder, name string, total time.Duration, per uint64, hi, lo time.Duration) {
	if total == 0 {
		return
	}
	b.WriteString(", " + name + ":{total:" + FormatDuration(total))
	if per > 0 {
		b.WriteString(", avg:" + FormatDuration(total/time.Duration(per)))
	}
	b.WriteString(", max:" + FormatDuration(hi) + ", min:" + FormatDuration(lo) + "}")
}
