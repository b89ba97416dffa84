// Package eval measures masked diffusion language models and their samplers: quality against forward passes
// (NFE), on tasks where the sampler's choices matter.
//
// Tasks:
//   - infill: held-out sentences with a masked span of several lengths at the start, middle or end; exact match
//     of the whole span and token accuracy.
//   - sudoku: a masked-diffusion Sudoku model fills the blank cells; fully solved puzzles, cell accuracy and
//     grid validity per sampler, which shows how much the decoding order matters (Kim et al. 2025, "Train for
//     the Worst, Plan for the Best").
//   - genppl: continuations of held-out prompts scored by an autoregressive judge (generative perplexity),
//     with unigram entropy, distinct-n and self-BLEU of the samples to detect mode collapse.
//   - likelihood: LLaDA's Monte-Carlo bound on the negative log-likelihood of held-out text, with its standard
//     error.
//   - calibration: the denoiser's argmax probability against its accuracy on masked held-out tokens (ECE and a
//     reliability diagram).
//
// When the judge carries hidden-state features (docs/contract.md, "Hidden-state features"), infill and genppl
// also get semantic measures: BERTScore-style greedy matching and pooled cosine of each infill against its
// reference, and MAUVE (with its precision/recall reading) of the samples against the human continuations of
// the same prompts; genppl also reports distinct-n and self-BLEU over words. MAUVE's features join the pooled
// hidden states with the judge's mean log-probability of the continuation (MauveVectors: the small judge's
// hidden states alone do not tell unigram word salad from text). The report checks the features first
// (paraphrase-like pairs against unrelated sentences) and gives MAUVE's reference rows (held-out text of the
// same and of other documents, unigram samples) at the same sample size.
//
// Every task decodes through llada.Stream, so every sampler the engine knows is evaluated the same way, and
// batches many items per forward pass. Fill is the infill entry point: it decodes arbitrary masked positions of
// a canvas (not only a suffix) by presenting the engine a permuted view of the canvas.
//
// A continuous-family model (Data.Continuous, llada.family = continuous) adds its samplers (ddim, ddpm,
// dpm-solver++, euler, heun) to infill and genppl: the same prompts, spans, judge and diversity metrics, rows
// beside the masked ones, with solver steps as their NFE budget (Decoding.Steps). They run through
// llada.Model.Stream (SampleModel, InfillModel); infill holds the given tokens clean and integrates the span from
// noise. Their genppl rows carry no MAUVE (it would sample as many prompts again).
//
// All randomness comes from the seed in Config; equal seeds give equal reports.
package eval
