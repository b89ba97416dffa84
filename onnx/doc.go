// Package onnx runs masked-diffusion denoisers exported to ONNX through ONNX Runtime (via
// github.com/yalue/onnxruntime_go, which loads the runtime's shared library at run time).
//
// # Model contract v1 (the I/O part)
//
// A model has an input "input_ids" (int64, [batch, seq]), optionally "attention_mask" (int64, [batch, seq], 1
// for real tokens and 0 for padding), and an output "logits" (float32, [batch, seq, vocab]). Open checks names,
// element types and ranks and names every mismatch; any other required input is an error. Other outputs are
// allowed and never computed. The llada.* metadata keys are read by the root package from Session.Metadata.
//
// onnxruntime_go cannot list the inputs of a session it has created, so Open reads the graph's inputs and
// outputs from the ONNX protobuf itself (seeking past the weights), checks them, and only then creates the
// session: one model load per Open, and a model that breaks the contract fails before its weights load.
//
// # Finding ONNX Runtime
//
// LibraryPath resolves the shared library in this order:
//
//  1. the explicit path (WithLibraryPath);
//  2. $ONNXRUNTIME_SHARED_LIBRARY_PATH;
//  3. the llada cache, where InstallCommand (`go run github.com/llada-go/llada/onnx/cmd/install-onnxruntime`),
//     `llada install-onnxruntime` and `bash scripts/install-onnxruntime.sh` install ONNX Runtime 1.30.0:
//     $LLADA_CACHE_DIR, else $XDG_CACHE_HOME/llada, else ~/.cache/llada, then onnxruntime-1.30.0/ and
//     libonnxruntime.so.1 (Linux), libonnxruntime.1.30.0.dylib (macOS) or onnxruntime.dll (Windows);
//  4. the platform's system places: on Linux /usr/local/lib, /usr/lib, /usr/lib/x86_64-linux-gnu, ... and
//     the names the dynamic linker cache knows (ldconfig -p); on macOS /opt/homebrew/lib, /usr/local/lib and
//     /usr/lib; on Windows the directories of $PATH.
//
// A path given explicitly or through the environment that does not exist is an error (it is not skipped).
// When nothing is found the error wraps ErrLibraryNotFound and names InstallCommand.
//
// The runtime is loaded once per process and stays loaded: onnxruntime_go keeps one global environment, and
// unloading and reloading ONNX Runtime in a process is not reliable. Every Session therefore shares that one
// library; asking for a different library file after the first Open is an error, not a crash.
//
// # Threads and concurrency
//
// WithIntraOpThreads sets ONNX Runtime's per-operator thread pool (0: one thread per physical core). A Session
// is safe for concurrent use: ONNX Runtime's Run is thread-safe, and each Forward takes its own input/output
// tensors from a small per-session cache keyed by [rows, seq], so concurrent calls never share buffers. Many
// sessions may be open at once.
//
// # Allocation
//
// With a static vocabulary, Forward binds the caller's logits slice as the output tensor (ONNX Runtime writes
// into it directly) and reuses the cached input tensors, so a steady-state call only copies the token ids.
// When ctx can never be cancelled (ctx.Done() == nil, e.g. context.Background()) it runs through an ORT
// IoBinding and allocates nothing. A cancellable ctx needs run options, which onnxruntime_go's binding run
// lacks, so that path costs a few small allocations per call (context.AfterFunc and the binding's Run
// wrapper; 7 allocations, 176 bytes). A dynamic vocabulary lets ONNX Runtime allocate the output, which
// Forward copies. `go test ./onnx -run '^$' -bench Forward -benchmem` reports the numbers.
//
// # Cancellation
//
// A ctx that is already done makes Forward return at once. A ctx cancelled while ONNX Runtime runs sets the
// run's terminate flag (OrtRunOptions SetTerminate); the runtime checks it between graph nodes, so a run stops
// after the node in progress. Either way the error wraps ctx.Err() (context.Canceled or
// context.DeadlineExceeded), and the Session remains usable.
//
// # CUDA
//
// WithCUDA(device) appends the CUDA execution provider. The library the installer fetches (the npm package
// onnxruntime-node's linux-x64 build) is CPU-only: that package's own install script downloads the CUDA
// provider from NuGet, and no CUDA build of ONNX Runtime can be obtained on the machines this project is
// developed on (no network beyond the Go proxy, Debian and npm). So WithCUDA is only tested to fail there,
// with an error naming the library and the missing CUDA EP. With a CUDA-enabled libonnxruntime.so (and its
// libonnxruntime_providers_cuda.so beside it) set through WithLibraryPath or the environment, it is meant to
// work unchanged.
package onnx
