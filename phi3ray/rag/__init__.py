"""RAG: chunking, embedding, the Weaviate store, hybrid retrieval and prompts with numbered sources."""
