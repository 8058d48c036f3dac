"""Knowledge bases: documents, ingestion into Chroma, and their consistency with SQL."""
