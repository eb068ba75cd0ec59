"""phi3ray: make Phi-3 an industry expert with LoRA/QLoRA on Ray Train, RAG on Weaviate, Ray Serve."""

__version__ = "0.1.0"
