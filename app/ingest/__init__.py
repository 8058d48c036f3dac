"""Document ingestion: extracting text from untrusted uploads, within limits."""
