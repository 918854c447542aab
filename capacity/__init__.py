"""Capacity planning: load-test the RAG API and simulate a deployment's autoscaling."""
