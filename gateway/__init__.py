"""The content gateway: the content store, read only, over the IPFS Trustless Gateway protocol."""
