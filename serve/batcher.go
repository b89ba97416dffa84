package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/llada-go/llada"
)

// errBatcherClosed is returned to forward passes submitted after the server closed.
var errBatcherClosed = errors.New("serve: server closed")

// batcher runs the forward passes of concurrent generations as rows of shared batches.
//
// Every generation the server runs gets its own member, a llada.Denoiser whose Forward hands the canvas to the
// batcher and waits. One dispatcher goroutine collects the waiting passes and runs those of one bucket (the
// canvas length rounded up to a quantum) together: each row is left-padded to the bucket length with the pad id
// and attention 0, and its logits are copied back. A pass is padded the same way when it runs alone, so a
// request's inputs, and with them its greedy output, do not depend on what else is being served. LLaDA-style
// networks use RoPE, so left padding under attention 0 changes only the absolute offsets, not the attention
// scores (up to float rounding).
//
// The dispatcher fires a batch as soon as every joined generation that is not in a running batch is waiting
// (nobody else can join this step), when the oldest waiting bucket holds maxRows rows, or when the oldest pass
// has waited maxWait. Up to maxInFlight batches run at once, so that while one group of generations scores its
// logits on the CPU another group's forward pass runs, instead of the backend idling during every scoring.
type batcher struct {
	den         llada.Denoiser
	vocab       int
	padID       int64
	quantum     int
	maxRows     int
	maxWait     time.Duration
	maxInFlight int
	stats       func(batchStats) // called after each batch; may be nil

	mu             sync.Mutex
	members        int     // generations joined
	pending        []*pass // waiting passes, oldest first
	inFlight       int     // batches running
	inFlightPasses int     // passes in those batches
	free           []*batchBuffers
	closed         bool
	wake           chan struct{} // capacity 1: a pass arrived, a member left, a batch ended, or close
	done           chan struct{} // closed when the dispatcher returns
}

// batchBuffers are one running batch's inputs and logits, reused by later batches.
type batchBuffers struct {
	ids, att []int64
	logits   []float32
}

// batchStats describes one batched forward pass.
type batchStats struct {
	Rows, Passes, Seq int
	Elapsed           time.Duration
	Err               error
}

// pass is one generation's forward pass waiting for its batch.
type pass struct {
	ctx    context.Context
	in     llada.Batch
	logits []float32
	bucket int
	since  time.Time
	taken  bool       // the dispatcher owns logits until done is sent
	done   chan error // capacity 1
}

func newBatcher(den llada.Denoiser, padID, quantum, maxRows int, maxWait time.Duration, maxInFlight int, stats func(batchStats)) *batcher {
	b := &batcher{den: den, vocab: den.VocabSize(), padID: int64(padID), quantum: quantum, maxRows: maxRows,
		maxWait: maxWait, maxInFlight: max(maxInFlight, 1), stats: stats, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go b.loop()
	return b
}

// join registers a generation; the returned member is its Denoiser. Call leave when the generation ends, so
// the dispatcher stops waiting for it.
func (b *batcher) join() *member {
	b.mu.Lock()
	b.members++
	b.mu.Unlock()
	return &member{b: b}
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// close fails the passes still waiting, stops the dispatcher once the running batch is over and releases the
// backend's hold on the batch buffer.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	for _, p := range b.pending {
		p.done <- errBatcherClosed
	}
	b.pending = nil
	b.mu.Unlock()
	b.signal()
	<-b.done
	for _, buf := range b.free {
		if buf.logits != nil {
			releaseBuffer(b.den, buf.logits)
		}
	}
	b.free = nil
}

func releaseBuffer(den llada.Denoiser, logits []float32) {
	if h, ok := den.(llada.BufferHolder); ok {
		h.ReleaseBuffer(logits)
	}
}

// member is one generation's view of the batcher.
type member struct {
	b    *batcher
	once sync.Once
}

func (m *member) VocabSize() int { return m.b.vocab }

// Deterministic forwards the backend's promise: padding a row into a batch does not make it time-dependent.
func (m *member) Deterministic() bool {
	d, ok := m.b.den.(llada.Deterministic)
	return ok && d.Deterministic()
}

// leave unregisters the generation; further calls do nothing.
func (m *member) leave() {
	m.once.Do(func() {
		m.b.mu.Lock()
		m.b.members--
		m.b.mu.Unlock()
		m.b.signal()
	})
}

// Forward queues the pass and waits for its batch. A cancelled ctx withdraws a pass that has not started; a
// pass already running finishes first, since the dispatcher is writing into logits.
func (m *member) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	b := m.b
	switch {
	case in.Rows <= 0 || in.Seq <= 0 || len(in.IDs) != in.Rows*in.Seq:
		return fmt.Errorf("serve: batch of %d ids for %d rows x %d positions", len(in.IDs), in.Rows, in.Seq)
	case in.Attention != nil && len(in.Attention) != len(in.IDs):
		return fmt.Errorf("serve: attention of %d values for %d ids", len(in.Attention), len(in.IDs))
	case len(logits) < in.Rows*in.Seq*b.vocab:
		return fmt.Errorf("serve: logits buffer of %d values for %d rows x %d positions x %d vocab", len(logits), in.Rows, in.Seq, b.vocab)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pass{ctx: ctx, in: in, logits: logits, bucket: roundUp(in.Seq, b.quantum), since: time.Now(), done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errBatcherClosed
	}
	b.pending = append(b.pending, p)
	b.mu.Unlock()
	b.signal()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !p.taken {
		b.removeLocked(p)
		b.mu.Unlock()
		b.signal() // the waiting set changed: the others may be complete now
		return ctx.Err()
	}
	b.mu.Unlock()
	<-p.done
	return ctx.Err()
}

func (b *batcher) removeLocked(p *pass) {
	for i, q := range b.pending {
		if q == p {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			return
		}
	}
}

func roundUp(n, q int) int {
	if q <= 1 {
		return n
	}
	return (n + q - 1) / q * q
}

func (b *batcher) loop() {
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		var batch []*pass
		var wait time.Duration
		var buf *batchBuffers
		if b.inFlight < b.maxInFlight {
			batch, wait = b.takeLocked(time.Now())
		}
		if batch != nil {
			b.inFlight++
			b.inFlightPasses += len(batch)
			if n := len(b.free); n > 0 {
				buf, b.free = b.free[n-1], b.free[:n-1]
			} else {
				buf = &batchBuffers{}
			}
		}
		stop := b.closed && len(b.pending) == 0 && b.inFlight == 0
		b.mu.Unlock()
		if batch != nil {
			go func() {
				b.run(batch, buf)
				b.mu.Lock()
				b.inFlight--
				b.inFlightPasses -= len(batch)
				b.free = append(b.free, buf)
				b.mu.Unlock()
				b.signal()
			}()
			continue
		}
		if stop {
			return
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-b.wake:
				timer.Stop()
			case <-timer.C:
			}
		} else {
			<-b.wake
		}
	}
}

// takeLocked picks the next batch, or returns how long to wait for more passes (0: until woken).
func (b *batcher) takeLocked(now time.Time) ([]*pass, time.Duration) {
	if len(b.pending) == 0 {
		return nil, 0
	}
	first := b.pending[0]
	rows := 0
	for _, p := range b.pending {
		if p.bucket == first.bucket {
			rows += p.in.Rows
		}
	}
	waited := now.Sub(first.since)
	everyoneWaiting := len(b.pending)+b.inFlightPasses >= b.members
	if !everyoneWaiting && rows < b.maxRows && waited < b.maxWait && !b.closed {
		return nil, b.maxWait - waited
	}
	var batch []*pass
	rows = 0
	kept := b.pending[:0]
	for _, p := range b.pending {
		if p.bucket == first.bucket && (len(batch) == 0 || rows+p.in.Rows <= b.maxRows) {
			p.taken = true
			batch = append(batch, p)
			rows += p.in.Rows
			continue
		}
		kept = append(kept, p)
	}
	clear(b.pending[len(kept):])
	b.pending = kept
	return batch, 0
}

// run executes one batch: left-pads every row to the bucket length, runs the backend once and copies each
// pass's logits back.
func (b *batcher) run(batch []*pass, buf *batchBuffers) {
	seq := batch[0].bucket
	rows := 0
	for _, p := range batch {
		rows += p.in.Rows
	}
	n := rows * seq
	buf.ids = grow(buf.ids, n)
	buf.att = grow(buf.att, n)
	if cap(buf.logits) < n*b.vocab {
		if buf.logits != nil {
			releaseBuffer(b.den, buf.logits)
		}
		buf.logits = make([]float32, n*b.vocab)
	}
	ids, att, logits := buf.ids[:n], buf.att[:n], buf.logits[:n*b.vocab]
	r := 0
	for _, p := range batch {
		off := seq - p.in.Seq
		for i := 0; i < p.in.Rows; i++ {
			row := r * seq
			for j := 0; j < off; j++ {
				ids[row+j], att[row+j] = b.padID, 0
			}
			copy(ids[row+off:row+seq], p.in.IDs[i*p.in.Seq:(i+1)*p.in.Seq])
			if p.in.Attention != nil {
				copy(att[row+off:row+seq], p.in.Attention[i*p.in.Seq:(i+1)*p.in.Seq])
			} else {
				for j := off; j < seq; j++ {
					att[row+j] = 1
				}
			}
			r++
		}
	}
	start := time.Now()
	// The batch serves several requests: one client's cancellation must not abort the others' pass, so the
	// backend runs without a deadline; a cancelled pass returns its error after the batch (member.Forward).
	err := b.den.Forward(context.Background(), llada.Batch{IDs: ids, Attention: att, Rows: rows, Seq: seq}, logits)
	elapsed := time.Since(start)
	r = 0
	for _, p := range batch {
		if err == nil {
			off := seq - p.in.Seq
			for i := 0; i < p.in.Rows; i++ {
				src := logits[((r+i)*seq+off)*b.vocab : (r+i+1)*seq*b.vocab]
				copy(p.logits[i*p.in.Seq*b.vocab:(i+1)*p.in.Seq*b.vocab], src)
			}
		}
		r += p.in.Rows
		b.mu.Lock() // taken was set under the lock; the member reads it there
		p.done <- err
		b.mu.Unlock()
	}
	if b.stats != nil {
		b.stats(batchStats{Rows: rows, Passes: len(batch), Seq: seq, Elapsed: elapsed, Err: err})
	}
}

func grow(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}
