"""Catalog: endpoints (model connections), variants (versioned recipes) and example sets."""
