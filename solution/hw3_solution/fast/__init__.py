"""Fast mode of the reference training (Lab 1 and Lab 2) and the faithful-vs-fast benchmark.

The fast mode keeps the handout's objective (the same batches and per-token loss) and
removes the waste: rows are tokenized once, a batch's rows are packed into one sequence
instead of being padded to 1024 tokens, run in bf16 with SDPA attention and a fused
optimizer, and on CUDA every training step is a captured CUDA graph.
`python -m hw3_solution.fast.bench` compares both modes side by side.
"""
