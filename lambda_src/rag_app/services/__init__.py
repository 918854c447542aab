"""Clients of the upstreams (SageMaker components, Qdrant) and the pieces of a RAG answer."""
