"""Reading Redis: the store, the per-request loaders, stored-value parsing and the transport.

It may import only the kernel (settings, errors, keys, symbols).
"""
