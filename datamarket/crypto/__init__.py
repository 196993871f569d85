"""Encryption: streaming AEAD for content, key wrapping to providers and consumers."""

from datamarket.crypto.stream import (
    ALGORITHM,
    DecryptionError,
    StreamParameterError,
    ciphertext_size,
    decrypt_bytes,
    decrypt_stream,
    decrypt_to_path,
    encrypt_bytes,
    encrypt_stream,
    new_content_key,
)

__all__ = [
    "ALGORITHM",
    "DecryptionError",
    "StreamParameterError",
    "ciphertext_size",
    "decrypt_bytes",
    "decrypt_stream",
    "decrypt_to_path",
    "encrypt_bytes",
    "encrypt_stream",
    "new_content_key",
]
