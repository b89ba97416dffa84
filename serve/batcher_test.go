package serve

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada"
)

// echoDenoiser writes logits that encode each position's id, attention and distance from the row's end, so a
// test can check that every pass got back exactly its own rows, unshifted. It records each batch's shape.
type echoDenoiser struct {
	vocab   int
	entered atomic.Int32 // passes that reached Forward
	mu      sync.Mutex
	calls   []llada.Batch
	gate    chan struct{} // when non-nil, Forward waits for a value
	fail    error
}

func (d *echoDenoiser) VocabSize() int { return d.vocab }

func (d *echoDenoiser) Forward(_ context.Context, in llada.Batch, logits []float32) error {
	d.entered.Add(1)
	if d.gate != nil {
		<-d.gate
	}
	d.mu.Lock()
	d.calls = append(d.calls, llada.Batch{Rows: in.Rows, Seq: in.Seq, IDs: append([]int64(nil), in.IDs...), Attention: append([]int64(nil), in.Attention...)})
	d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	for r := range in.Rows {
		for p := range in.Seq {
			k := r*in.Seq + p
			for v := range d.vocab {
				logits[k*d.vocab+v] = float32(in.IDs[k]*1000+in.Attention[k]*100+int64(in.Seq-p))*10 + float32(v)
			}
		}
	}
	return nil
}

func (d *echoDenoiser) Deterministic() bool { return true }

// want is what echoDenoiser gives a row of ids at the right end of a canvas, whatever the padding before it.
func wantEcho(in llada.Batch, vocab int) []float32 {
	out := make([]float32, in.Rows*in.Seq*vocab)
	for r := range in.Rows {
		for p := range in.Seq {
			k := r*in.Seq + p
			att := int64(1)
			if in.Attention != nil {
				att = in.Attention[k]
			}
			for v := range vocab {
				out[k*vocab+v] = float32(in.IDs[k]*1000+att*100+int64(in.Seq-p))*10 + float32(v)
			}
		}
	}
	return out
}

func TestBatcherJoinsConcurrentPassesIntoOneBatch(t *testing.T) {
	den := &echoDenoiser{vocab: 3}
	b := newBatcher(den, 7, 8, 64, time.Hour, 1, nil) // never fires on time: only when everyone waits
	defer b.close()
	inputs := []llada.Batch{
		{IDs: []int64{1, 2, 3}, Rows: 1, Seq: 3},
		{IDs: []int64{4, 5, 6, 7, 8, 9, 10, 11}, Attention: []int64{0, 1, 1, 1, 0, 0, 1, 1}, Rows: 2, Seq: 4},
		{IDs: []int64{12, 13, 14, 15, 16}, Rows: 1, Seq: 5},
	}
	members := make([]*member, len(inputs))
	for i := range inputs {
		members[i] = b.join()
	}
	var wg sync.WaitGroup
	got := make([][]float32, len(inputs))
	errs := make([]error, len(inputs))
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = make([]float32, in.Rows*in.Seq*3)
			errs[i] = members[i].Forward(context.Background(), in, got[i])
		}()
	}
	wg.Wait()
	for i, in := range inputs {
		require.NoError(t, errs[i])
		assert.Equal(t, wantEcho(in, 3), got[i], "pass %d", i)
	}
	require.Len(t, den.calls, 1, "three passes of one bucket share one forward")
	call := den.calls[0]
	assert.Equal(t, 4, call.Rows)
	assert.Equal(t, 8, call.Seq, "padded to the quantum")
	// Rows come in arrival order; find them by content.
	rows := map[int64]int{}
	for r := range call.Rows {
		rows[call.IDs[r*8+7]] = r
	}
	r0, r2 := rows[3], rows[11]
	assert.Equal(t, []int64{7, 7, 7, 7, 7, 1, 2, 3}, call.IDs[r0*8:r0*8+8], "five pads, then the ids")
	assert.Equal(t, []int64{0, 0, 0, 0, 0, 1, 1, 1}, call.Attention[r0*8:r0*8+8])
	assert.Equal(t, []int64{0, 0, 0, 0, 0, 0, 1, 1}, call.Attention[r2*8:r2*8+8], "the row's own attention is kept")
}

func TestBatcherAlonePaddedLikeBatched(t *testing.T) {
	den := &echoDenoiser{vocab: 2}
	b := newBatcher(den, 0, 16, 64, time.Millisecond, 1, nil)
	defer b.close()
	m := b.join()
	defer m.leave()
	in := llada.Batch{IDs: []int64{3, 4, 5}, Rows: 1, Seq: 3}
	out := make([]float32, 6)
	require.NoError(t, m.Forward(context.Background(), in, out))
	require.Len(t, den.calls, 1)
	assert.Equal(t, 16, den.calls[0].Seq, "a pass alone is padded to its bucket too, so its inputs equal the batched ones")
	assert.Equal(t, wantEcho(in, 2), out)
}

func TestBatcherSplitsBucketsAndRowLimit(t *testing.T) {
	den := &echoDenoiser{vocab: 1}
	b := newBatcher(den, 0, 4, 2, time.Hour, 1, nil)
	defer b.close()
	ins := []llada.Batch{
		{IDs: []int64{1, 1}, Rows: 1, Seq: 2},          // bucket 4
		{IDs: []int64{2, 2, 2, 2, 2}, Rows: 1, Seq: 5}, // bucket 8
		{IDs: []int64{3, 3, 3}, Rows: 1, Seq: 3},       // bucket 4
		{IDs: []int64{4}, Rows: 1, Seq: 1},             // bucket 4, over the 2-row limit
	}
	ms := make([]*member, len(ins))
	for i := range ins {
		ms[i] = b.join()
	}
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, in.Rows*in.Seq)
			assert.NoError(t, ms[i].Forward(context.Background(), in, out))
			assert.Equal(t, wantEcho(in, 1), out)
			ms[i].leave()
		}()
	}
	wg.Wait()
	rows := map[int]int{}
	for _, c := range den.calls {
		assert.LessOrEqual(t, c.Rows, 2, "row limit")
		rows[c.Seq] += c.Rows
	}
	assert.Equal(t, map[int]int{4: 3, 8: 1}, rows)
}

func TestBatcherWaitsForMembersThenFiresOnTimeout(t *testing.T) {
	den := &echoDenoiser{vocab: 1}
	b := newBatcher(den, 0, 1, 64, 20*time.Millisecond, 1, nil)
	defer b.close()
	busy := b.join() // joined but never forwards: the batch must still fire after the wait
	defer busy.leave()
	m := b.join()
	defer m.leave()
	start := time.Now()
	require.NoError(t, m.Forward(context.Background(), llada.Batch{IDs: []int64{1}, Rows: 1, Seq: 1}, make([]float32, 1)))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
}

func TestBatcherCancelWhileWaiting(t *testing.T) {
	den := &echoDenoiser{vocab: 1}
	b := newBatcher(den, 0, 1, 64, time.Hour, 1, nil)
	defer b.close()
	other := b.join() // keeps the batch from firing
	m := b.join()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Forward(ctx, llada.Batch{IDs: []int64{1}, Rows: 1, Seq: 1}, make([]float32, 1)) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	m.leave()
	other.leave()
	assert.Empty(t, den.calls, "a withdrawn pass never runs")
	b.mu.Lock()
	assert.Empty(t, b.pending)
	assert.Equal(t, 0, b.members)
	b.mu.Unlock()
}

func TestBatcherErrorsReachEveryPass(t *testing.T) {
	boom := errors.New("boom")
	den := &echoDenoiser{vocab: 1, fail: boom}
	b := newBatcher(den, 0, 1, 64, time.Millisecond, 1, nil)
	defer b.close()
	m := b.join()
	defer m.leave()
	err := m.Forward(context.Background(), llada.Batch{IDs: []int64{1}, Rows: 1, Seq: 1}, make([]float32, 1))
	require.ErrorIs(t, err, boom)
}

func TestBatcherRejectsBadShapesAndClosed(t *testing.T) {
	den := &echoDenoiser{vocab: 2}
	b := newBatcher(den, 0, 1, 64, time.Millisecond, 1, nil)
	m := b.join()
	require.ErrorContains(t, m.Forward(context.Background(), llada.Batch{IDs: []int64{1, 2}, Rows: 1, Seq: 1}, make([]float32, 4)), "2 ids for 1 rows")
	require.ErrorContains(t, m.Forward(context.Background(), llada.Batch{IDs: []int64{1}, Rows: 1, Seq: 1}, make([]float32, 1)), "logits buffer of 1 values")
	require.ErrorContains(t, m.Forward(context.Background(), llada.Batch{IDs: []int64{1}, Attention: []int64{1, 1}, Rows: 1, Seq: 1}, make([]float32, 2)), "attention of 2 values")
	b.close()
	require.ErrorIs(t, m.Forward(context.Background(), llada.Batch{IDs: []int64{1}, Rows: 1, Seq: 1}, make([]float32, 2)), errBatcherClosed)
}

func TestBatcherRunsBatchesInFlightConcurrently(t *testing.T) {
	for _, inFlight := range []int{1, 2} {
		den := &echoDenoiser{vocab: 1, gate: make(chan struct{})}
		b := newBatcher(den, 0, 4, 64, time.Millisecond, inFlight, nil)
		ins := []llada.Batch{{IDs: []int64{1, 1}, Rows: 1, Seq: 2}, {IDs: []int64{2, 2, 2, 2, 2}, Rows: 1, Seq: 5}} // two buckets
		var wg sync.WaitGroup
		for _, in := range ins {
			m := b.join()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer m.leave()
				out := make([]float32, in.Seq)
				assert.NoError(t, m.Forward(context.Background(), in, out))
				assert.Equal(t, wantEcho(in, 1), out)
			}()
		}
		require.Eventually(t, func() bool { return den.entered.Load() >= 1 }, 5*time.Second, time.Millisecond)
		time.Sleep(20 * time.Millisecond) // room for a second batch to start, if allowed
		assert.Equal(t, int32(inFlight), den.entered.Load(), "batches running at once with %d in flight", inFlight)
		close(den.gate)
		wg.Wait()
		b.close()
	}
}
