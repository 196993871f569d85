"""Metadata documents: the datamarket/dataset@1 schema, profiles and validation."""
