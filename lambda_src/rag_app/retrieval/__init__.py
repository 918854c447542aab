"""Retrieval as separate steps: rewrite the question, search, fuse, rerank, cut to k."""
