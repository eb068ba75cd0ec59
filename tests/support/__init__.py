"""Helpers the tests and benches share: a real Weaviate process, a `ray start` cluster, random adapters, ports."""
