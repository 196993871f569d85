"""datamarket: a decentralized data marketplace."""

__version__ = "0.1.0"
