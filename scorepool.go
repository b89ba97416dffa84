package llada

import (
	"math/rand/v2"
	"runtime"
	"sync"
)

// scoreWorkers is the process-wide pool that scores positions for every generation: GOMAXPROCS goroutines
// (as GOMAXPROCS was when the first generation needed them), started on first use and kept for the life of the
// process. Sharing one bounded pool keeps many concurrent generations from oversubscribing the cores; a
// generation that finds the pool busy scores its share on its own goroutine instead of waiting in line.
var scoreWorkers struct {
	once sync.Once
	n    int
	jobs chan scoreJob
}

// scoreJob is one slice [lo, hi) of a generation's work positions, with the generation's filtering scratch for
// that share (nil when the sampler does not filter).
type scoreJob struct {
	p      *scorePool
	lo, hi int
	buf    []entry
}

func sharedScoreWorkers() chan<- scoreJob {
	scoreWorkers.once.Do(func() {
		scoreWorkers.n = runtime.GOMAXPROCS(0)
		scoreWorkers.jobs = make(chan scoreJob, scoreWorkers.n)
		for i := 0; i < scoreWorkers.n; i++ {
			go scoreWorker(scoreWorkers.jobs)
		}
	})
	return scoreWorkers.jobs
}

// scoreWorker owns only a PCG (reseeded per position). The vocabulary-sized filtering scratch comes with each
// job from the generation, so the process-wide workers keep nothing of that size once generations end (at
// V=126,464 it is 3 MB per worker).
func scoreWorker(jobs <-chan scoreJob) {
	rng := rand.NewPCG(0, 0)
	for job := range jobs {
		job.p.scoreRange(job.lo, job.hi, rng, job.buf)
		job.p.wg.Done()
	}
}

// scorePool scores the positions of g.work: a share on the calling goroutine, the rest on the shared
// workers. Each position draws from its own PCG stream keyed by (per-step seed, flat position), so results do
// not depend on how work is split or which goroutine scores it.
type scorePool struct {
	g      *generation
	jobs   chan<- scoreJob // nil: score everything on the calling goroutine
	wg     sync.WaitGroup
	n      int // shares per step
	bufLen int
	local  *rand.PCG
	buf    []entry   // the calling goroutine's scratch
	bufs   [][]entry // bufs[k-1]: scratch of share k, made the first time share k is offered to a worker
}

func newScorePool(g *generation, shares int) *scorePool {
	p := &scorePool{g: g, n: shares, local: rand.NewPCG(0, 0)}
	if g.needsBuf() {
		p.bufLen = g.vocab
	}
	p.buf = make([]entry, p.bufLen)
	if shares > 1 {
		p.jobs = sharedScoreWorkers()
	}
	return p
}

// parallelMin is the number of logits below which a step is scored on the calling goroutine: handing work to
// other goroutines costs a few microseconds, more than scoring a few thousand logits.
const parallelMin = 1 << 16

func (p *scorePool) score() {
	g := p.g
	n := len(g.work)
	g.stepSeed = g.rng.Uint64()
	if p.jobs == nil || n*g.vocab < parallelMin || n < 2 {
		p.scoreRange(0, n, p.local, p.buf)
		return
	}
	chunk := (n + p.n - 1) / p.n
	for k, lo := 1, chunk; lo < n; k, lo = k+1, lo+chunk {
		hi := min(lo+chunk, n)
		p.wg.Add(1)
		select {
		case p.jobs <- scoreJob{p: p, lo: lo, hi: hi, buf: p.shareBuf(k)}:
		default: // every worker is busy and the queue is full: do it here
			p.wg.Done()
			p.scoreRange(lo, hi, p.local, p.buf)
		}
	}
	p.scoreRange(0, min(chunk, n), p.local, p.buf)
	p.wg.Wait()
}

// shareBuf returns the filtering scratch of share k >= 1, made on first use (a share that never leaves the
// calling goroutine costs nothing), or nil when the sampler does not filter.
func (p *scorePool) shareBuf(k int) []entry {
	if p.bufLen == 0 {
		return nil
	}
	for len(p.bufs) < k {
		p.bufs = append(p.bufs, nil)
	}
	if p.bufs[k-1] == nil {
		p.bufs[k-1] = make([]entry, p.bufLen)
	}
	return p.bufs[k-1]
}

func (p *scorePool) scoreRange(lo, hi int, rng *rand.PCG, buf []entry) {
	g := p.g
	sc := g.active
	for _, j := range g.work[lo:hi] {
		rng.Seed(g.stepSeed, uint64(j))
		g.res[j] = sc.run(g.logitsAt(j), rng, buf)
	}
}
