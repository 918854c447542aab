"""OpenAI's Batch API: files, batches, input validation, per-line results and their files."""
