"""LLM Twin RAG app: FastAPI on Lambda that retrieves context from Qdrant and asks the LLM."""
