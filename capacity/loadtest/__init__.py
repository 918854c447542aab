"""Stepped-concurrency load test of the RAG API with Locust, run in a subprocess."""
