//go:build cgo

package onnx

import ort "github.com/yalue/onnxruntime_go"

// watcher is a goroutine that sets a RunOptions' terminate flag when the context of the run in progress is
// cancelled. One lives with each cached binding, so a cancellable Forward costs two channel round trips and
// no allocation (context.AfterFunc allocates its callback state on every call).
type watcher struct {
	start  chan (<-chan struct{}) // the ctx.Done() of a run that begins
	finish chan struct{}          // the run ended
	ack    chan bool              // true when the watcher set the terminate flag
}

func newWatcher(run *ort.RunOptions) *watcher {
	w := &watcher{start: make(chan (<-chan struct{})), finish: make(chan struct{}), ack: make(chan bool)}
	go func() {
		for done := range w.start {
			terminated := false
			select {
			case <-done:
				_ = run.Terminate()
				terminated = true
				<-w.finish
			case <-w.finish:
			}
			w.ack <- terminated
		}
	}()
	return w
}

// begin arms the watcher for a run under a context whose Done channel is done.
func (w *watcher) begin(done <-chan struct{}) { w.start <- done }

// end disarms it after the run and reports whether the terminate flag was set (and must be cleared).
func (w *watcher) end() bool {
	w.finish <- struct{}{}
	return <-w.ack
}

// stop ends the goroutine; the watcher must be idle.
func (w *watcher) stop() { close(w.start) }
