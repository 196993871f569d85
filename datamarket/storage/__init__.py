"""Content addressing and content stores."""
