"""Local mode: the RAG pipeline offline, with small real models behind a SageMaker stand-in."""
