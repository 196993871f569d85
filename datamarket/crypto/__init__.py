"""Encryption: streaming AEAD for content, key wrapping to providers and consumers."""
